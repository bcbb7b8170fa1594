//! Warnings for a package that depends on the user's machine: a script entry whose interpreter
//! is not in the tree, and a `package.json` whose dependencies are not in it.
//!
//! # Implementation
//! Both checks read the prepared tree only (the entry's first line, and the `package.json`
//! nearest to the entry and to every `{pkg_dir}/…` argument); they never fail the build, they
//! print `sea-pack: warning: …` lines that say what will go wrong and how to fix it.
//!
//! * An entry starting with `#!` runs the interpreter named there, which is a path on the user's
//!   machine (`#!/usr/bin/env node` runs whatever `node` is first on their `PATH`: another
//!   version, or none at all, exit 127). POSIX shells (`sh`, `bash`, `dash`) are everywhere and
//!   are not reported. The fix: bundle the runtime and make it the entry,
//!   `--entry runtime/bin/node --arg {pkg_dir}/app/index.js`.
//! * A `package.json` with `dependencies` whose packages are in no `node_modules` between it and
//!   the root (what `npm pack` makes: it leaves dependencies out) fails with
//!   `ERR_MODULE_NOT_FOUND` at the first `import`.
//!
//! # Limitations
//! Dependencies are looked up by directory name only (`node_modules/<name>`), not resolved the
//! way Node does (no `exports`, no versions); an app that bundles its code (esbuild, webpack) and
//! keeps a `dependencies` list may get a warning it does not need.

use std::fs;
use std::io::Read;
use std::path::Path;

/// Shells present on every Unix-like system.
const SHELLS: &[&str] = &["sh", "bash", "dash"];
/// Dependencies named in one warning.
const NAMED: usize = 5;

/// The warnings for the tree at `root` with this entry and fixed arguments.
pub(crate) fn warnings(root: &Path, entry: &str, args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(warning) = interpreter_warning(root, entry) {
        out.push(warning);
    }
    let mut targets = vec![entry.to_owned()];
    targets.extend(args.iter().filter_map(|a| a.strip_prefix("{pkg_dir}/")).map(str::to_owned));
    let mut seen = Vec::new();
    for target in targets {
        let Some(manifest) = nearest_package_json(root, &target) else { continue };
        if seen.contains(&manifest) {
            continue;
        }
        if let Some(warning) = dependency_warning(root, &manifest) {
            out.push(warning);
        }
        seen.push(manifest);
    }
    out
}

/// The interpreter of a `#!` line: the program and whether it was looked up through `env`.
fn shebang(line: &str) -> Option<(String, bool)> {
    let rest = line.strip_prefix("#!")?.trim();
    let mut words = rest.split_whitespace();
    let program = words.next()?;
    let base = program.rsplit('/').next().unwrap_or(program);
    if base != "env" {
        return Some((program.to_owned(), false));
    }
    // `env [-S] [-i] [NAME=value]... program`
    let name = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
    Some((name.to_owned(), true))
}

fn interpreter_warning(root: &Path, entry: &str) -> Option<String> {
    let mut head = [0u8; 256];
    let n = fs::File::open(root.join(entry)).and_then(|mut f| f.read(&mut head)).ok()?;
    let text = std::str::from_utf8(head.get(..n)?.split(|b| *b == b'\n').next()?).ok()?;
    let (program, via_env) = shebang(text)?;
    let base = program.rsplit('/').next().unwrap_or(&program).to_owned();
    if SHELLS.contains(&base.as_str()) {
        return None;
    }
    let runs = if via_env {
        format!("whatever '{base}' is first on the user's PATH (another version, or none: exit 127)")
    } else {
        format!("{program} from the user's machine (another version, or none: exit 127)")
    };
    let bundled = find_executable(root, &base);
    let how = match &bundled {
        Some(path) => format!("the tree has {path}: make it the entry, --entry {path} --arg {{pkg_dir}}/{entry}"),
        None => format!(
            "bundle a runtime in the tree and make it the entry, e.g. --entry runtime/bin/{base} --arg {{pkg_dir}}/{entry}"
        ),
    };
    Some(format!("--entry {entry} is a script for '{program}', which is not in the package: it will run {runs}; {how}"))
}

/// An executable file named `name` under a `bin` directory of the tree (breadth-first, shallow).
fn find_executable(root: &Path, name: &str) -> Option<String> {
    let mut queue = vec![(root.to_owned(), String::new(), 0usize)];
    let mut at = 0;
    while let Some((dir, rel, depth)) = queue.get(at).cloned() {
        at += 1;
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut children: Vec<_> = entries.flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let file_name = child.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() { file_name.clone() } else { format!("{rel}/{file_name}") };
            let Ok(kind) = child.file_type() else { continue };
            if kind.is_dir() && depth < 4 && file_name != "node_modules" {
                queue.push((child.path(), child_rel, depth + 1));
            } else if kind.is_file()
                && file_name == name
                && rel.rsplit('/').next() == Some("bin")
                && is_exec(&child.path())
            {
                return Some(child_rel);
            }
        }
    }
    None
}

#[cfg(unix)]
fn is_exec(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_exec(_path: &Path) -> bool {
    true
}

/// The `package.json` in the directory of `rel` or the nearest ancestor inside the tree, relative.
fn nearest_package_json(root: &Path, rel: &str) -> Option<String> {
    let mut dir = Path::new(rel).parent();
    while let Some(d) = dir {
        let candidate = d.join("package.json");
        if root.join(&candidate).is_file() {
            return Some(candidate.to_string_lossy().into_owned());
        }
        dir = d.parent();
    }
    None
}

fn dependency_warning(root: &Path, manifest: &str) -> Option<String> {
    let text = fs::read(root.join(manifest)).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let deps = json.get("dependencies")?.as_object()?;
    let base = Path::new(manifest).parent().unwrap_or(Path::new(""));
    let missing: Vec<&String> = deps.keys().filter(|name| !installed(root, base, name)).collect();
    if missing.is_empty() {
        return None;
    }
    let mut named: Vec<String> = missing.iter().take(NAMED).map(|s| s.to_string()).collect();
    if missing.len() > NAMED {
        named.push(format!("and {} more", missing.len() - NAMED));
    }
    let place = if base.as_os_str().is_empty() { String::new() } else { format!("{}/", base.display()) };
    Some(format!(
        "{manifest} lists {} dependencies that are not in the package ({}): the app will fail with \
         ERR_MODULE_NOT_FOUND. Install them into the tree before packing (npm ci --omit=dev in {}), \
         list them in \"bundledDependencies\" so that npm pack includes them, or bundle the app \
         (esbuild, webpack) into one file",
        missing.len(),
        named.join(", "),
        if place.is_empty() { "the app's directory".to_owned() } else { place },
    ))
}

/// Whether `node_modules/<name>` exists in `base` or one of its ancestors within the tree.
fn installed(root: &Path, base: &Path, name: &str) -> bool {
    let mut dir = Some(base);
    while let Some(d) = dir {
        if root.join(d).join("node_modules").join(name).is_dir() {
            return true;
        }
        dir = d.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(shebang("#!/usr/bin/env node"), Some(("node".into(), true)));
        assert_eq!(shebang("#!/usr/bin/env -S node --max-old-space-size=4096"), Some(("node".into(), true)));
        assert_eq!(shebang("#! /usr/local/bin/python3 -u"), Some(("/usr/local/bin/python3".into(), false)));
        assert_eq!(shebang("\x7fELF"), None);
        assert_eq!(shebang("#!/usr/bin/env"), None);
    }

    fn tree(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text, mode) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            fs::write(&full, text).expect("write");
            fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        dir
    }

    #[test]
    fn a_node_script_without_runtime_is_reported_with_the_fix() {
        let dir = tree(&[("app/index.js", "#!/usr/bin/env node\n", 0o755)]);
        let w = warnings(dir.path(), "app/index.js", &[]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("'node'") && w[0].contains("--entry runtime/bin/node --arg {pkg_dir}/app/index.js"),
            "{w:?}"
        );
        let dir = tree(&[("app/index.js", "#!/usr/bin/env node\n", 0o755), ("runtime/bin/node", "\x7fELF", 0o755)]);
        let w = warnings(dir.path(), "app/index.js", &[]);
        assert!(w[0].contains("the tree has runtime/bin/node"), "{w:?}");
    }

    #[test]
    fn shells_and_binaries_are_not_reported() {
        let dir = tree(&[("bin/a", "#!/bin/sh\nexit 0\n", 0o755), ("bin/b", "\x7fELF\x02", 0o755)]);
        assert!(warnings(dir.path(), "bin/a", &[]).is_empty());
        assert!(warnings(dir.path(), "bin/b", &[]).is_empty());
    }

    #[test]
    fn missing_dependencies_are_reported_and_installed_ones_are_not() {
        let pkg = r#"{"name":"x","dependencies":{"chalk":"^5","yargs":"^17"}}"#;
        let dir = tree(&[
            ("runtime/bin/node", "\x7fELF", 0o755),
            ("app/package.json", pkg, 0o644),
            ("app/index.js", "", 0o644),
        ]);
        let args = ["{pkg_dir}/app/index.js".to_owned()];
        let w = warnings(dir.path(), "runtime/bin/node", &args);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("chalk, yargs") && w[0].contains("npm ci --omit=dev") && w[0].contains("bundledDependencies")
        );
        fs::create_dir_all(dir.path().join("app/node_modules/chalk")).expect("mkdir");
        fs::create_dir_all(dir.path().join("node_modules/yargs")).expect("mkdir");
        assert!(warnings(dir.path(), "runtime/bin/node", &args).is_empty());
    }
}
