//! Ops for Vulkan-exported semaphores imported into CUDA.

use super::OpDef;

pub static OPS: &[OpDef] = &[];
