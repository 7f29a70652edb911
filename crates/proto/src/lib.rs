//! Generated protobuf and gRPC code for every Fazhi service.
//!
//! One crate for all packages, so every service and client shares the same types, and the file
//! descriptor set served by gRPC reflection is built once.

pub use prost;
pub use prost_types;
pub use tonic;

/// Encoded `FileDescriptorSet` of every Fazhi proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fazhi_descriptor.bin"));

/// The units registry, `fazhi.units.v1`.
pub mod units {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
        tonic::include_proto!("fazhi.units.v1");
    }
}

/// Plans and tasks, `fazhi.plans.v1`.
pub mod plans {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
        tonic::include_proto!("fazhi.plans.v1");
    }
}

/// Data elements, indicators, targets and reported values, `fazhi.indicators.v1`.
pub mod indicators {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
        tonic::include_proto!("fazhi.indicators.v1");
    }
}

/// What every service's audit log lists, `fazhi.audit.v1`.
pub mod audit {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation)]
        tonic::include_proto!("fazhi.audit.v1");
    }
}

/// Assessment schemes, rounds and scores, `fazhi.assessment.v1`.
pub mod assessment {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
        tonic::include_proto!("fazhi.assessment.v1");
    }
}
