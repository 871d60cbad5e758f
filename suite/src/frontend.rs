//! The CUDA frontend a case goes through: the driver API (`cu*`, libcuda) or the runtime
//! API the CUDA guide shows (`cuda*`, libcudart). Ops written against these types run
//! unchanged through either; the case's `cuda_api` picks one. Errors keep their own API
//! (`Api::Cuda` / `Api::Cudart`) and codes.

use crate::cuda;
use crate::cudart;
use crate::error::OpError;
use crate::types::CudaApi;

pub use crate::cuda::ImportDesc;

/// One CUDA device as seen through one frontend: the driver's retained primary context,
/// or the runtime's current device (set again before every call, since it is per thread
/// and an op may use two devices).
pub enum Gpu {
    Driver(cuda::Context),
    Runtime(u32),
}

pub enum Stream {
    Driver(cuda::Stream),
    Runtime(u32, cudart::Stream),
}

pub enum Semaphore {
    Driver(cuda::ExternalSemaphore),
    Runtime(u32, cudart::ExternalSemaphore),
}

/// The implementation a case's CUDA calls go to, or the probed reason there is none.
pub fn implementation(api: CudaApi) -> Result<String, OpError> {
    match api {
        CudaApi::Driver => Ok(cuda::driver()?.implementation()),
        CudaApi::Runtime => Ok(cudart::runtime()?.implementation()),
    }
}

impl Gpu {
    pub fn open(api: CudaApi, dev: u32) -> Result<Gpu, OpError> {
        match api {
            CudaApi::Driver => Ok(Gpu::Driver(cuda::Context::primary(dev)?)),
            CudaApi::Runtime => {
                cudart::runtime()?;
                cudart::set_device(dev)?;
                Ok(Gpu::Runtime(dev))
            }
        }
    }

    pub fn api(&self) -> CudaApi {
        match self {
            Gpu::Driver(_) => CudaApi::Driver,
            Gpu::Runtime(_) => CudaApi::Runtime,
        }
    }

    pub fn stream(&self) -> Result<Stream, OpError> {
        match self {
            Gpu::Driver(ctx) => Ok(Stream::Driver(cuda::Stream::new(ctx)?)),
            Gpu::Runtime(dev) => {
                cudart::set_device(*dev)?;
                Ok(Stream::Runtime(*dev, cudart::Stream::new()?))
            }
        }
    }

    /// cuImportExternalSemaphore / cudaImportExternalSemaphore on this device.
    pub fn import(&self, desc: ImportDesc) -> Result<Semaphore, OpError> {
        crate::progress::step(Call::Import.name(self.api()));
        match self {
            Gpu::Driver(ctx) => Ok(Semaphore::Driver(cuda::ExternalSemaphore::import(
                ctx, desc,
            )?)),
            Gpu::Runtime(dev) => {
                cudart::set_device(*dev)?;
                Ok(Semaphore::Runtime(
                    *dev,
                    cudart::ExternalSemaphore::import(desc)?,
                ))
            }
        }
    }

    /// cuDeviceGetNvSciSyncAttributes / cudaDeviceGetNvSciSyncAttributes: the raw code.
    ///
    /// # Safety
    /// `list` must be NULL or something the library may read and write as an
    /// NvSciSyncAttrList.
    pub unsafe fn nvsci_attributes(
        &self,
        list: *mut std::ffi::c_void,
        flags: i32,
    ) -> Result<i32, OpError> {
        match self {
            Gpu::Driver(ctx) => {
                ctx.make_current()?;
                unsafe { cuda::nvsci_attributes_raw(list, ctx.index(), flags) }
            }
            Gpu::Runtime(dev) => unsafe { cudart::nvsci_attributes(list, *dev, flags) },
        }
    }

    /// The error `what` returning `code` through this frontend.
    pub fn error(&self, what: Call, code: i32) -> OpError {
        let call = what.name(self.api());
        match self {
            Gpu::Driver(_) => OpError::cuda(call, code),
            Gpu::Runtime(_) => OpError::cudart(call, code),
        }
    }
}

/// Entry points named in messages, per frontend.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    Import,
    Signal,
    Wait,
    Destroy,
    NvSciSyncAttributes,
}

impl Call {
    pub fn name(self, api: CudaApi) -> &'static str {
        match (self, api) {
            (Call::Import, CudaApi::Driver) => "cuImportExternalSemaphore",
            (Call::Import, CudaApi::Runtime) => "cudaImportExternalSemaphore",
            (Call::Signal, CudaApi::Driver) => "cuSignalExternalSemaphoresAsync",
            (Call::Signal, CudaApi::Runtime) => "cudaSignalExternalSemaphoresAsync",
            (Call::Wait, CudaApi::Driver) => "cuWaitExternalSemaphoresAsync",
            (Call::Wait, CudaApi::Runtime) => "cudaWaitExternalSemaphoresAsync",
            (Call::Destroy, CudaApi::Driver) => "cuDestroyExternalSemaphore",
            (Call::Destroy, CudaApi::Runtime) => "cudaDestroyExternalSemaphore",
            (Call::NvSciSyncAttributes, CudaApi::Driver) => "cuDeviceGetNvSciSyncAttributes",
            (Call::NvSciSyncAttributes, CudaApi::Runtime) => "cudaDeviceGetNvSciSyncAttributes",
        }
    }
}

impl Stream {
    pub fn synchronize(&self) -> Result<(), OpError> {
        crate::progress::step("stream synchronize");
        match self {
            Stream::Driver(s) => s.synchronize(),
            Stream::Runtime(dev, s) => {
                cudart::set_device(*dev)?;
                s.synchronize()
            }
        }
    }
}

/// Pairs a semaphore with a stream of the same frontend, or says the op mixed them.
macro_rules! same_frontend {
    ($sem:expr, $stream:expr, |$a:ident, $b:ident| $driver:expr, |$dev:ident, $c:ident, $d:ident| $runtime:expr) => {
        match ($sem, $stream) {
            (Semaphore::Driver($a), Stream::Driver($b)) => $driver,
            (Semaphore::Runtime($dev, $c), Stream::Runtime(_, $d)) => {
                cudart::set_device(*$dev)?;
                $runtime
            }
            _ => Err(OpError::Row(
                "op mixed CUDA driver and runtime objects in one call".into(),
            )),
        }
    };
}

impl Semaphore {
    pub fn api(&self) -> CudaApi {
        match self {
            Semaphore::Driver(_) => CudaApi::Driver,
            Semaphore::Runtime(..) => CudaApi::Runtime,
        }
    }

    /// Enqueues a signal of `value` (ignored for binary semaphores).
    pub fn signal(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        crate::progress::step(Call::Signal.name(self.api()));
        same_frontend!(self, stream, |s, st| s.signal(st, value), |dev, s, st| s
            .signal(st, value))
    }

    /// Enqueues a wait for `value` (ignored for binary semaphores).
    pub fn wait(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        crate::progress::step(Call::Wait.name(self.api()));
        same_frontend!(self, stream, |s, st| s.wait(st, value), |dev, s, st| s
            .wait(st, value))
    }

    /// Enqueues a signal of an imported NvSciSync object; CUDA fills `fence`.
    pub fn signal_nvsci(
        &self,
        stream: &Stream,
        fence: *mut nvsci_abi::Fence,
    ) -> Result<(), OpError> {
        same_frontend!(
            self,
            stream,
            |s, st| s.signal_nvsci(st, fence),
            |dev, s, st| s.signal_nvsci(st, fence)
        )
    }

    /// Enqueues a wait on `fence` of an imported NvSciSync object.
    pub fn wait_nvsci(&self, stream: &Stream, fence: *mut nvsci_abi::Fence) -> Result<(), OpError> {
        same_frontend!(
            self,
            stream,
            |s, st| s.wait_nvsci(st, fence),
            |dev, s, st| s.wait_nvsci(st, fence)
        )
    }

    /// Destroys now, reporting the result (drop ignores it).
    pub fn destroy(self) -> Result<(), OpError> {
        crate::progress::step(Call::Destroy.name(self.api()));
        match self {
            Semaphore::Driver(s) => s.destroy(),
            Semaphore::Runtime(dev, s) => {
                cudart::set_device(dev)?;
                s.destroy()
            }
        }
    }
}
