//! `sea-pack build / inspect / verify / extract`, and the stub running what it packed.

use sea_tests::{Sandbox, run, text};

#[test]
fn packed_binary_runs_its_entry() {
    let sb = Sandbox::new();
    let app = sb.app("hello").exec("bin/hello", "#!/bin/sh\necho \"hello $*\"\n");
    let bin = sb.pack(app.path(), "hello", "1.0.0", "bin/hello", &[]);
    let out = run(sb.cmd(&bin).args(["a", "b"]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "hello a b\n");
}
