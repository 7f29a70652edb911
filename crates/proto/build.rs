//! Generates the gRPC code from `proto/` with a vendored `protoc`, so no system compiler is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut prost_config = prost_build::Config::new();
    prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "fazhi/audit/v1/audit.proto",
        "fazhi/units/v1/units.proto",
        "fazhi/units/v1/units_service.proto",
        "fazhi/plans/v1/plans.proto",
        "fazhi/plans/v1/plans_service.proto",
        "fazhi/indicators/v1/indicators.proto",
        "fazhi/indicators/v1/indicators_service.proto",
        "fazhi/assessment/v1/assessment.proto",
        "fazhi/assessment/v1/assessment_service.proto",
    ];
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("fazhi_descriptor.bin"))
        .compile_with_config(
            prost_config,
            &files.map(|file| proto_root.join(file)),
            std::slice::from_ref(&proto_root),
        )?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
