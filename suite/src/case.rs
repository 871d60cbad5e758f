//! Expands tables into concrete cases. Names depend only on the tables, never on the
//! hardware present, so every board lists the same cases.

use crate::table::{AxisValue, Backend, DeviceFilter, Expect, Table, TableError};
use std::collections::BTreeMap;

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
    pub nvscisync_needs: Vec<crate::nvsci::needs::Need>,
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

    pub fn info(&self) -> hil_proto::CaseInfo {
        hil_proto::CaseInfo {
            name: self.name.clone(),
            table: self.table.clone(),
            backend: self.backend.as_str().to_string(),
            timeout_s: self.timeout_s,
            ub: self.ub.clone(),
        }
    }
}

/// All cases of all tables, in table order then row order then matrix order.
/// Duplicate names across tables are an error: names are the identity of results.
pub fn expand(tables: &[Table]) -> Result<Vec<Case>, TableError> {
    let mut cases = Vec::new();
    let mut seen = BTreeMap::new();
    for t in tables {
        for row in &t.rows {
            let matrix = row.matrix.as_ref().unwrap_or(&t.matrix);
            for point in points(&matrix.0) {
                if !keep(row.devices, &point) {
                    continue;
                }
                let mut name = format!("{}.{}", t.name, row.id);
                if !point.is_empty() {
                    let labels: Vec<_> = point.iter().map(|(_, v)| v.label()).collect();
                    name = format!("{name}.{}", labels.join("_"));
                }
                if let Some(prev) = seen.insert(name.clone(), t.name.0.clone()) {
                    return Err(TableError::Invalid {
                        file: t.name.0.clone(),
                        message: format!(
                            "case `{name}` is also produced by table `{prev}`: rename a row"
                        ),
                    });
                }
                cases.push(Case {
                    name,
                    table: t.name.0.clone(),
                    backend: t.backend,
                    op: row.op.0.clone(),
                    params: row.params.clone(),
                    axes: point,
                    expect: row.expect.clone(),
                    ub: row.ub.clone(),
                    timeout_s: row.timeout_s.unwrap_or(t.timeout_s),
                    nvscisync_needs: row.nvscisync_needs.clone(),
                });
            }
        }
    }
    Ok(cases)
}

fn points(axes: &[(String, Vec<AxisValue>)]) -> Vec<Vec<(String, AxisValue)>> {
    let mut out = vec![Vec::new()];
    for (name, values) in axes {
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
