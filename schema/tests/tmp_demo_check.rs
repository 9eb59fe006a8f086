#[test]
fn demo() {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    match tributary_schema::build("schema.graphql", &sdl, &Default::default()) {
        Ok(bp) => println!("OK subscription={:?}", bp.subscription),
        Err(e) => panic!("{e}"),
    }
}
