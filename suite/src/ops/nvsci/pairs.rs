//! NvSciSync ops with a CUDA side: signaler x waiter pairs (each side the CPU or a CUDA
//! device) and the rows about CUDA's own NvSciSync behaviour (attributes, direction,
//! cleanup, import twice).

use super::cuda_side::*;
use super::*;
use hil_proto::key as obs_key;

/// One side of a pair: the CPU, or a CUDA device.
pub(super) fn party_list(
    api: CudaApi,
    m: &Module,
    side: AxisValue,
    signaler: bool,
) -> Result<AttrList, OpError> {
    let (cpu_perm, cuda_flag) = if signaler {
        (perm::SIGNAL_ONLY, CUDA_NVSCISYNC_ATTR_SIGNAL)
    } else {
        (perm::WAIT_ONLY, CUDA_NVSCISYNC_ATTR_WAIT)
    };
    match side {
        AxisValue::Cpu => cpu_list(m, cpu_perm),
        AxisValue::Device(d) => {
            let l = m.attr_list()?;
            cuda_attributes(api, &l, d, cuda_flag)?;
            Ok(l)
        }
    }
}

pub(super) fn sides(c: &Ctx) -> Result<(AxisValue, AxisValue), OpError> {
    let get = |a: &str| {
        c.case
            .axis(a)
            .ok_or_else(|| OpError::Row(format!("op needs axis `{a}`")))
    };
    Ok((get("signaler")?, get("waiter")?))
}

pub(super) fn pair_reconcile(c: &Ctx) -> OpResult {
    let (s_side, w_side) = sides(c)?;
    let m = Module::open()?;
    let s = party_list(c.case.api, &m, s_side, true)?;
    let w = party_list(c.case.api, &m, w_side, false)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    let actual = r.get_u64(key::ACTUAL_PERM)?.unwrap_or(0);
    check(actual & perm::WAIT_SIGNAL == perm::WAIT_SIGNAL, || {
        format!("ActualPerm {} lacks wait or signal", perm_name(actual))
    })?;
    let cpu = s_side == AxisValue::Cpu || w_side == AxisValue::Cpu;
    let need = r.get_bool(key::NEED_CPU_ACCESS)?;
    check(need == Some(cpu), || {
        format!("NeedCpuAccess {need:?} with a CPU party: {cpu}")
    })?;
    check(nvsci::validate(&r, &[&s, &w])?, || {
        "ValidateReconciled rejects its own inputs".into()
    })?;
    Ok(vec![Observation::new(
        obs_key::ACTUAL_PERM,
        perm_name(actual),
    )])
}

pub(super) fn pair_roundtrip(c: &Ctx) -> OpResult {
    let (s_side, w_side) = sides(c)?;
    let count = c.param_u64("count", 8)?.max(1);
    let m = Module::open()?;
    let s = party_list(c.case.api, &m, s_side, true)?;
    let w = party_list(c.case.api, &m, w_side, false)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    let obj = Obj::alloc(&r)?;
    let ctx = m.cpu_wait_context()?;
    // CUDA side: the object imported on each GPU party's device, with a stream.
    let gpu = |side: AxisValue| match side {
        AxisValue::Device(d) => cuda_import(c.case.api, d, &obj).map(Some),
        AxisValue::Cpu => Ok(None),
    };
    let sig = gpu(s_side)?;
    let wai = gpu(w_side)?;
    // UB row: the object freed while CUDA's imports of it live; the rounds below observe it.
    let (owned, freed);
    let obj: &Obj = if c
        .case
        .params
        .get("free_obj_early")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
    {
        freed = nvsci::ub_free_now(obj);
        &freed
    } else {
        owned = obj;
        &owned
    };
    for i in 1..=count {
        let mut fence = signal_once(obj, sig.as_ref())?;
        match &wai {
            None => fence
                .wait(&ctx, 5_000_000)
                .map_err(|e| OpError::Check(format!("round {i}: CPU wait: {e}")))?,
            Some(g) => cuda_wait(g, &mut fence)?,
        }
        fence.clear();
    }
    Ok(vec![Observation::new(obs_key::ROUNDS, count)])
}

pub(super) fn cuda_attrs_defect(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let m = Module::open()?;
    cuda_support(c.case.api, &m, dev)?;
    let l = m.attr_list()?;
    let code = match c.param_str("defect", "")? {
        "required_perm_set" => {
            l.set(&[pair_u64(key::REQUIRED_PERM, &perm::SIGNAL_ONLY)])?;
            cuda_attributes_code(c.case.api, Some(&l), dev, CUDA_NVSCISYNC_ATTR_SIGNAL)?
        }
        "no_flags" => cuda_attributes_code(c.case.api, Some(&l), dev, 0)?,
        "null_list" => cuda_attributes_code(c.case.api, None, dev, CUDA_NVSCISYNC_ATTR_SIGNAL)?,
        other => return Err(OpError::Row(format!("defect `{other}`"))),
    };
    match code {
        (0, _) => Ok(vec![Observation::new(obs_key::ATTRIBUTES, "accepted")]),
        (code, gpu) => Err(gpu.error(Call::NvSciSyncAttributes, code)),
    }
}

pub(super) fn cuda_wrong_direction(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let signal = match c.param_str("use", "")? {
        "signal" => true,
        "wait" => false,
        other => {
            return Err(OpError::Row(format!(
                "use `{other}`: expected signal or wait"
            )))
        }
    };
    let m = Module::open()?;
    // The GPU list comes from the other flag only; the CPU takes the role the GPU lacks.
    let gpu_list = party_list(c.case.api, &m, AxisValue::Device(dev), !signal)?;
    let cpu = party_list(c.case.api, &m, AxisValue::Cpu, signal)?;
    let r = nvsci::reconcile(&[&gpu_list, &cpu]).map_err(|f| f.error)?;
    let obj = Obj::alloc(&r)?;
    let g = cuda_import(c.case.api, dev, &obj)?;
    let mut fence = Fence::cleared(nvsci::lib()?);
    if signal {
        cuda_signal(&g, &mut fence)?;
        Ok(vec![Observation::new(obs_key::SIGNAL, "accepted")])
    } else {
        // The CPU signaler's fence, so the GPU has something real to wait for.
        let mut f = obj.generate_fence()?;
        obj.signal()?;
        cuda_wait(&g, &mut f)?;
        Ok(vec![Observation::new(obs_key::WAIT, "accepted")])
    }
}

/// Open file descriptors of this process. The cleanup row is `isolate` (a child of its
/// own), and judged by growth per cycle rather than an exact count.
pub(super) fn open_fds() -> Result<usize, OpError> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .map_err(|e| OpError::NotSupported(format!("/proc/self/fd not readable: {e}")))
}

pub(super) fn cuda_cleanup(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let cycles = c.param_u64("cycles", 16)?.max(1);
    {
        let m = Module::open()?;
        cuda_support(c.case.api, &m, dev)?;
    }
    let cycle = || -> Result<(), OpError> {
        let m = Module::open()?;
        let (lists, obj) = gpu_signals_cpu_waits(c.case.api, &m, dev)?;
        let ctx = m.cpu_wait_context()?;
        let g = cuda_import(c.case.api, dev, &obj)?;
        cpu_wait(&signal_once(&obj, Some(&g))?, &ctx)?;
        // The documented order: destroy the semaphore, free the object, free the lists,
        // close the module.
        cuda_destroy(g)?;
        drop(obj);
        drop(lists);
        drop(ctx);
        drop(m);
        Ok(())
    };
    cycle()?; // the first cycle may open what the driver keeps for the process
    let before = open_fds()?;
    for _ in 0..cycles {
        cycle()?;
    }
    let after = open_fds()?;
    check(after < before + cycles as usize, || {
        format!("{cycles} import/cleanup cycles left {} more open file descriptors ({before} -> {after})", after.saturating_sub(before))
    })?;
    Ok(vec![
        Observation::new(obs_key::FDS_BEFORE, before),
        Observation::new(obs_key::FDS_AFTER, after),
    ])
}

pub(super) fn cuda_import_twice(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let m = Module::open()?;
    let (_lists, obj) = gpu_signals_cpu_waits(c.case.api, &m, dev)?;
    let ctx = m.cpu_wait_context()?;
    let first = cuda_import(c.case.api, dev, &obj)?;
    let second = cuda_import(c.case.api, dev, &obj)?;
    for (which, g) in [("first", &first), ("second", &second)] {
        cpu_wait(&signal_once(&obj, Some(g))?, &ctx)
            .map_err(|e| OpError::Check(format!("{which} import: {e}")))?;
    }
    cuda_destroy(first)?;
    cpu_wait(&signal_once(&obj, Some(&second))?, &ctx)
        .map_err(|e| OpError::Check(format!("second import after the first was destroyed: {e}")))?;
    Ok(vec![])
}

/// An object the GPU `dev` signals and the CPU waits on, with its lists (signaler's,
/// waiter's, reconciled), which the caller frees after the object.
pub(super) fn gpu_signals_cpu_waits(
    api: CudaApi,
    m: &Module,
    dev: u32,
) -> Result<([AttrList; 3], Obj), OpError> {
    let s = party_list(api, m, AxisValue::Device(dev), true)?;
    let w = cpu_list(m, perm::WAIT_ONLY)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    let obj = Obj::alloc(&r)?;
    Ok(([s, w, r], obj))
}

/// One signal by the signaler, the CPU (`None`) or a GPU, and the fence that waits for it.
pub(super) fn signal_once(obj: &Obj, gpu: Option<&GpuSide>) -> Result<Fence, OpError> {
    match gpu {
        None => {
            let f = obj.generate_fence()?;
            obj.signal()?;
            Ok(f)
        }
        Some(g) => {
            let mut f = Fence::cleared(nvsci::lib()?);
            cuda_signal(g, &mut f)?;
            Ok(f)
        }
    }
}

pub(super) fn cpu_wait(f: &Fence, ctx: &CpuWaitContext) -> Result<(), OpError> {
    f.wait(ctx, 5_000_000)
        .map_err(|e| OpError::Check(format!("CPU wait on the fence: {e}")))
}
