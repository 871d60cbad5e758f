//! Splitting one run across jobs or boards: `--shard K/N` takes every N-th case of the
//! list; `--shard hash:K/N` takes the cases whose name hashes to K, so a case stays in its
//! shard when other cases are added or removed.

/// Which part of the case list a run takes (K is 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shard {
    /// Every N-th case of the plan order, starting at the K-th.
    Count { k: usize, n: usize },
    /// Cases with `fnv1a64(name) % N == K - 1`.
    Hash { k: usize, n: usize },
}

/// `K/N` or `hash:K/N`, with 1 <= K <= N.
pub fn parse(s: &str) -> Result<Shard, String> {
    let bad = || format!("--shard `{s}`: expected K/N or hash:K/N with 1 <= K <= N, e.g. 2/4");
    let (hash, rest) = match s.strip_prefix("hash:") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (k, n) = rest.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok(if hash {
        Shard::Hash { k, n }
    } else {
        Shard::Count { k, n }
    })
}

impl Shard {
    /// The items of this shard, in their order.
    pub fn take<T>(self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, item)| match self {
                Shard::Count { k, n } => i % n == k - 1,
                Shard::Hash { k, n } => fnv1a64(name(item).as_bytes()) % n as u64 == (k - 1) as u64,
            })
            .map(|(_, item)| item)
            .collect()
    }
}

/// 64-bit FNV-1a: fixed by its definition, so shards are the same on every host, Rust
/// version and hil release (std's `DefaultHasher` promises none of that).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t.case_{i:03}")).collect()
    }

    #[test]
    fn parse_accepts_count_and_hash_shards_only_in_range() {
        assert_eq!(parse("2/4"), Ok(Shard::Count { k: 2, n: 4 }));
        assert_eq!(parse("hash:3/3"), Ok(Shard::Hash { k: 3, n: 3 }));
        for bad in [
            "0/4", "5/4", "1/0", "x", "1-2", "hash:", "hash:0/2", "md5:1/2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fnv1a64_is_the_published_function() {
        // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn both_kinds_cover_every_case_exactly_once() {
        for kind in [|k, n| Shard::Count { k, n }, |k, n| Shard::Hash { k, n }] {
            let all = names(103);
            let mut seen: Vec<String> = (1..=4)
                .flat_map(|k| kind(k, 4).take(all.clone(), |s: &String| s.as_str()))
                .collect();
            seen.sort();
            assert_eq!(seen, all);
        }
    }

    #[test]
    fn a_hash_shard_keeps_its_cases_when_cases_are_added() {
        let before = names(100);
        let mut after = before.clone();
        after.insert(0, "a.new_first_case".into());
        after.extend(names(150).into_iter().skip(100));
        for k in 1..=3 {
            let sh = Shard::Hash { k, n: 3 };
            let old = sh.take(before.clone(), |s| s.as_str());
            let new = sh.take(after.clone(), |s| s.as_str());
            assert!(old.iter().all(|c| new.contains(c)), "shard {k} lost a case");
        }
        // The count shard does not have this property: that is why hash exists.
        let sh = Shard::Count { k: 1, n: 3 };
        let old = sh.take(before.clone(), |s| s.as_str());
        let new = sh.take(after, |s| s.as_str());
        assert!(!old.iter().all(|c| new.contains(c)));
    }
}
