//! Configuration: the main file and drop-ins in name order, errors that
//! name the file, the line and the key, and the printed default.

use std::path::{Path, PathBuf};
use std::process::Command;

use rivet_agent::config::{self, ConfigError, LogLevel, Settings};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn no_files_mean_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let settings = config::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(settings, Settings::default());
    assert_eq!(settings.state_dir, Path::new("/var/lib/rivet-agent"));
    assert_eq!(settings.backoff().max_secs, 300);
}

#[test]
fn drop_ins_apply_in_name_order_after_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "config.toml",
        "state_dir = \"/srv/main\"\nlog = \"warn\"\n",
    );
    write(
        dir.path(),
        "config.d/20-later.toml",
        "state_dir = \"/srv/twenty\"\n",
    );
    write(
        dir.path(),
        "config.d/10-first.toml",
        "state_dir = \"/srv/ten\"\nmax_backoff_secs = 60\n",
    );
    write(dir.path(), "config.d/30-ignored.conf", "this is not read");
    let settings = config::load(&main).unwrap();
    assert_eq!(settings.state_dir, Path::new("/srv/twenty"));
    assert_eq!(settings.log, LogLevel::Warn);
    assert_eq!(settings.max_backoff_secs, 60);
    assert_eq!(settings.root, Path::new("/"));
}

#[test]
fn a_bad_file_is_named_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "config.toml", "log = \"info\"\n");
    let cases = [
        ("log = \"info\"\n\nlog_level = \"debug\"\n", 3, "log_level"),
        ("# comment\nlog = \"loud\"\n", 2, "log"),
        ("max_backoff_secs = 1\n", 1, "max_backoff_secs"),
        ("root = \"relative/dir\"\n", 1, "root"),
        ("state_dir = 5\n", 1, "state_dir"),
        ("state_dir = \"/x\"\nstate_dir = \"/y\"\n", 2, "state_dir"),
        ("log = \n", 1, "log"),
    ];
    for (text, line, key) in cases {
        let drop_in = write(dir.path(), "config.d/50-bad.toml", text);
        let error = config::load(&main).unwrap_err();
        let ConfigError::Invalid {
            path, line: got, ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((path, *got), (&drop_in, Some(line)), "{text:?}: {error}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}, line {line}: ", drop_in.display())),
            "{message}"
        );
        assert!(message.contains(key), "{text:?}: {message}");
    }
}

#[test]
fn an_oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "config.toml", &"# padding\n".repeat(30_000));
    let error = config::load(&main).unwrap_err();
    assert!(matches!(error, ConfigError::TooLarge { .. }), "{error}");
}

#[test]
fn the_printed_default_is_the_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_rivet-agent"))
        .args(["--config", "/nonexistent/config.toml", "default-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text, config::DEFAULT_CONFIG);
    let parsed = config::from_files(&[(PathBuf::from("default.toml"), text)]).unwrap();
    assert_eq!(parsed, Settings::default());
}
