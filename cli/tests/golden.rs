//! Golden tests of the command-line surface: arguments, exit status,
//! stdout and stderr, one `tests/cmd/*.toml` per case (trycmd). Run with
//! `TRYCMD=overwrite` to update the expected files after a deliberate change.

#[test]
fn cli_surface() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
