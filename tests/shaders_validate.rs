//! Every WGSL file parses and validates with naga (no GPU needed).

use gruwave::kernels::SHADERS;

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    on_disk.sort();
    // gates.wgsl is not a kernel family of its own: it is prepended to others.
    on_disk.retain(|n| n != "gates.wgsl");
    let mut compiled: Vec<String> = SHADERS.iter().map(|(n, _)| n.to_string()).collect();
    compiled.sort();
    assert_eq!(
        on_disk, compiled,
        "every file in shaders/ is built into the library"
    );
    for (name, src) in SHADERS {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    }
}
