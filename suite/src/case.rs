//! Expands tables into concrete cases. Names depend only on the tables and, for `gpus`
//! axes, on how many CUDA devices the board has (at least two are always listed), so a
//! board lists the same cases every time, and boards with 0, 1 or 2 GPUs list the same.

use crate::table_def::{AxisItem, DeviceFilter, Table, TableError};
use crate::types::{AxisValue, Backend, CudaApi, Expect};
use std::collections::BTreeMap;

/// A `gpus` axis lists at least this many devices, so GPU-less and one-GPU machines list
/// the cases of a two-GPU board (and report the missing device's cases not-supported).
pub const MIN_LISTED_DEVICES: u32 = 2;

/// How many devices a `gpus` axis expands to on a board with `present` CUDA devices.
pub fn listed_devices(present: u32) -> u32 {
    present.max(MIN_LISTED_DEVICES)
}

#[derive(Debug, Clone)]
pub struct Case {
    /// `<table>.<row>[.<axis labels joined by _>]`, e.g. `vulkan.import.timeline.dev0_dev1`.
    pub name: String,
    pub table: String,
    pub backend: Backend,
    pub op: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub axes: Vec<(String, AxisValue)>,
    pub expect: Expect,
    pub ub: Option<String>,
    pub timeout_s: f64,
    /// The CUDA frontend the case imports, signals and waits through.
    pub api: CudaApi,
    /// Runs in its own process even though it is not a `ub` row.
    pub isolate: bool,
    /// Seconds without a reported step after which a child-process case is a hang.
    pub stall_s: Option<f64>,
    pub nvscisync_needs: Vec<crate::nvsci::needs::Need>,
    /// Driver log lines the row expects (substrings); see `verdict::with_driver_log`.
    pub expect_driver_log: Vec<String>,
    /// The row's verdict rests on a reading of ambiguous documentation (the text says which).
    pub header_ambiguous: Option<String>,
}

impl Case {
    pub fn axis(&self, name: &str) -> Option<AxisValue> {
        self.axes.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// CUDA devices this case touches, in axis order, without repeats.
    pub fn devices(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (_, v) in &self.axes {
            if let AxisValue::Device(d) = v {
                if !out.contains(d) {
                    out.push(*d);
                }
            }
        }
        out
    }

    /// Runs in a child process of its own (UB rows and `isolate` rows).
    pub fn in_child(&self) -> bool {
        self.ub.is_some() || self.isolate
    }

    pub fn info(&self) -> hil_proto::CaseInfo {
        hil_proto::CaseInfo {
            name: self.name.clone(),
            table: self.table.clone(),
            backend: self.backend.as_str().to_string(),
            timeout_s: self.timeout_s,
            ub: self.ub.clone(),
            devices: self.devices(),
            cuda_api: self.api.as_str().to_string(),
            isolated: self.in_child(),
        }
    }
}

/// All cases of all tables, in table order then row order then matrix order then
/// CUDA frontend, for a board whose `gpus` axes list `devices` devices.
/// The same name twice is an error: names are the identity of results.
pub fn expand(tables: &[Table], devices: u32) -> Result<Vec<Case>, TableError> {
    let mut cases = Vec::new();
    // name -> (table index, row index, axis point), to explain a clash.
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (ti, t) in tables.iter().enumerate() {
        for (ri, row) in t.rows.iter().enumerate() {
            let matrix = row.matrix.as_ref().unwrap_or(&t.matrix);
            let apis = row.cuda_api.as_ref().unwrap_or(&t.cuda_api);
            for point in points(&matrix.0, devices) {
                if !keep(row.devices, &point) {
                    continue;
                }
                let mut base = format!("{}.{}", t.name, row.id);
                if !point.is_empty() {
                    let labels: Vec<_> = point.iter().map(|(_, v)| v.label()).collect();
                    base = format!("{base}.{}", labels.join("_"));
                }
                // A point with only CPU sides touches no CUDA API: one case, no frontends.
                let cpu_only = !point.is_empty() && point.iter().all(|(_, v)| *v == AxisValue::Cpu);
                for (ai, &api) in apis.iter().enumerate() {
                    if cpu_only && ai > 0 {
                        break;
                    }
                    let name = match api {
                        CudaApi::Runtime if !cpu_only => format!("{base}.runtime"),
                        _ => base.clone(),
                    };
                    if let Some((pt, pr)) = seen.insert(name.clone(), (ti, ri)) {
                        let why = if pt != ti {
                            format!(
                                "case `{name}` is also produced by table `{}` ({}:{}): two tables share one name; rename one table",
                                tables[pt].name,
                                tables[pt].source.file,
                                tables[pt].source.name_line
                            )
                        } else if pr != ri {
                            format!(
                                "case `{name}` is also produced by row `{}` (line {}): change one row id",
                                tables[pt].rows[pr].id,
                                tables[pt].source.row(pr).0
                            )
                        } else {
                            format!(
                                "case `{name}` is produced twice by this row: `cuda_api` lists a frontend twice, remove one"
                            )
                        };
                        return Err(t.row_error(ri, why));
                    }
                    cases.push(Case {
                        name,
                        table: t.name.0.clone(),
                        backend: t.backend,
                        op: row.op.0.clone(),
                        params: row.params.clone(),
                        axes: point.clone(),
                        expect: row.expect.clone(),
                        ub: row.ub.clone(),
                        timeout_s: row.timeout_s.unwrap_or(t.timeout_s),
                        api: if cpu_only { CudaApi::Driver } else { api },
                        isolate: row.isolate,
                        stall_s: row.stall_s,
                        nvscisync_needs: row.nvscisync_needs.clone(),
                        expect_driver_log: row.expect_driver_log.clone(),
                        header_ambiguous: row.header_ambiguous.clone(),
                    });
                }
            }
        }
    }
    Ok(cases)
}

fn points(axes: &[(String, Vec<AxisItem>)], devices: u32) -> Vec<Vec<(String, AxisValue)>> {
    let mut out = vec![Vec::new()];
    for (name, items) in axes {
        let values: Vec<AxisValue> = items
            .iter()
            .flat_map(|item| match item {
                AxisItem::Value(v) => vec![*v],
                AxisItem::AllGpus => (0..devices).map(AxisValue::Device).collect(),
            })
            .collect();
        let values = &values;
        out = out
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((name.clone(), *v));
                    q
                })
            })
            .collect();
    }
    out
}

fn keep(filter: DeviceFilter, point: &[(String, AxisValue)]) -> bool {
    let devs: Vec<_> = point.iter().map(|(_, v)| *v).collect();
    let all_same = devs.windows(2).all(|w| w[0] == w[1]);
    match filter {
        DeviceFilter::Any => true,
        DeviceFilter::Same => all_same,
        DeviceFilter::Different => !all_same,
    }
}
