//! Every op's Rust parameter struct against the WGSL struct it mirrors, as naga reflects
//! the parsed module (the same source the engine compiles, libraries included): the
//! struct each entry point binds at @binding(0) (and the sampler's `Controls`), its size,
//! and each field's name, offset and type. No GPU needed.

use gruwave::kernels::ops::{op_params, ParamsLayout};
use gruwave::kernels::{shader_source, KernelOptions, FAMILIES};
use std::collections::BTreeMap;

struct Reflected {
    module: naga::Module,
    info: naga::valid::ModuleInfo,
}

fn reflect(file: &str) -> Reflected {
    let src = shader_source(file, KernelOptions::fixed(false));
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(&src)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(&src)));
    Reflected { module, info }
}

/// The name of the type of the global an entry point uses at @group(0) @binding(b).
fn bound_struct(r: &Reflected, ep: usize, binding: u32) -> Option<String> {
    let uses = r.info.get_entry_point(ep);
    r.module
        .global_variables
        .iter()
        .find(|(h, g)| {
            !uses[*h].is_empty()
                && g.binding
                    .as_ref()
                    .is_some_and(|b| b.group == 0 && b.binding == binding)
        })
        .and_then(|(_, g)| r.module.types[g.ty].name.clone())
}

fn scalar_name(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    match &module.types[ty].inner {
        naga::TypeInner::Scalar(s) => match (s.kind, s.width) {
            (naga::ScalarKind::Uint, 4) => "u32".into(),
            (naga::ScalarKind::Sint, 4) => "i32".into(),
            (naga::ScalarKind::Float, 4) => "f32".into(),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// Mismatches between a Rust struct and the WGSL struct of the same name.
fn compare(r: &Reflected, rust: &ParamsLayout) -> Vec<String> {
    let Some(ty) = r
        .module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(rust.name))
    else {
        return vec![format!(
            "{}: no struct {} in {}",
            rust.name, rust.name, rust.file
        )];
    };
    let naga::TypeInner::Struct { members, span } = &ty.1.inner else {
        return vec![format!("{}: not a struct in {}", rust.name, rust.file)];
    };
    let mut bad = Vec::new();
    let name = rust.name;
    if *span as usize != rust.size {
        bad.push(format!(
            "{name}: {} bytes in Rust, {span} in WGSL",
            rust.size
        ));
    }
    if members.len() != rust.fields.len() {
        bad.push(format!(
            "{name}: {} fields in Rust, {} in WGSL",
            rust.fields.len(),
            members.len()
        ));
    }
    for (i, (f, m)) in rust.fields.iter().zip(members).enumerate() {
        let wgsl = m.name.as_deref().unwrap_or("?");
        let size = r.module.types[m.ty].inner.size(r.module.to_ctx()) as usize;
        let ty = scalar_name(&r.module, m.ty);
        if f.name != wgsl || f.offset != m.offset as usize || f.size != size || f.ty != ty {
            bad.push(format!(
                "{name} field {i}: Rust `{}: {}` at offset {} ({} bytes), WGSL `{wgsl}: {ty}` at offset {} ({size} bytes)",
                f.name, f.ty, f.offset, f.size, m.offset
            ));
        }
    }
    bad
}

#[test]
fn every_op_struct_matches_its_wgsl_struct() {
    let ops = op_params();
    let by_entry: BTreeMap<&str, &ParamsLayout> = ops.iter().map(|(e, l)| (*e, l)).collect();
    let mut bad = Vec::new();
    let mut entries = 0;
    for (file, _, _) in FAMILIES {
        let r = reflect(file);
        for (i, ep) in r.module.entry_points.iter().enumerate() {
            entries += 1;
            let Some(rust) = by_entry.get(ep.name.as_str()) else {
                bad.push(format!("{file}: entry point {} has no op", ep.name));
                continue;
            };
            assert_eq!(rust.file, file, "{}: declared for another file", ep.name);
            let wgsl = bound_struct(&r, i, 0);
            if wgsl.as_deref() != Some(rust.name) {
                bad.push(format!(
                    "{}: binds {wgsl:?} at 0, Rust says {}",
                    ep.name, rust.name
                ));
            }
            bad.extend(compare(&r, rust));
        }
    }
    // The storage structs bound beside the parameters (entry point "").
    for (_, rust) in ops.iter().filter(|(e, _)| e.is_empty()) {
        bad.extend(compare(&reflect(rust.file), rust));
    }
    bad.sort();
    bad.dedup();
    assert!(
        bad.is_empty(),
        "parameter layouts differ:\n{}",
        bad.join("\n")
    );
    assert_eq!(
        entries,
        ops.iter().filter(|(e, _)| !e.is_empty()).count(),
        "one op per entry point"
    );
}
