//! Every WGSL file parses and validates with naga (no GPU needed), in each build variant.

use gruwave::kernels::{shader_source, KernelOptions, FAMILIES, LIBRARY_FILES};

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    on_disk.sort();
    let mut compiled: Vec<String> = FAMILIES
        .iter()
        .map(|(n, _, _)| n.to_string())
        .chain(LIBRARY_FILES.iter().map(|n| n.to_string()))
        .collect();
    compiled.sort();
    assert_eq!(
        on_disk, compiled,
        "every file in shaders/ is built into the library"
    );
    for subgroups in [false, true] {
        let opts = KernelOptions::fixed(subgroups);
        for (name, _, _) in FAMILIES {
            let src = shader_source(name, opts);
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{name} {opts:?}: {}", e.emit_to_string(&src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name} {opts:?}: {}", e.emit_to_string(&src)));
        }
    }
}
