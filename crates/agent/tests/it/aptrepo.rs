//! A signed apt repository on 127.0.0.1 for test hosts: packages built
//! with `dpkg-deb` from a control file, indexed with `apt-ftparchive` as a
//! flat repository, its Release file signed (InRelease) with an OpenPGP key
//! the test makes, and served over HTTP by a small file server here.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::testhost::TestHost;

/// A package to build: name and version, architecture `all`, no files.
pub struct Deb<'a> {
    /// The name.
    pub name: &'a str,
    /// The version.
    pub version: &'a str,
}

/// A running repository.
pub struct AptRepo {
    /// Its URL.
    pub url: String,
    key: Vec<u8>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

fn run(command: &mut Command) -> Vec<u8> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl AptRepo {
    /// Builds, indexes and signs `debs`, and serves them.
    pub async fn start(debs: &[Deb<'_>]) -> AptRepo {
        let dir = tempfile::tempdir().unwrap();
        let pool = dir.path().join("repo");
        std::fs::create_dir(&pool).unwrap();
        for deb in debs {
            let tree = dir.path().join(deb.name);
            std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
            std::fs::write(
                tree.join("DEBIAN/control"),
                format!(
                    "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: Rivet tests <tests@rivet.invalid>\n\
                     Description: Rivet test package\n A package the agent's tests install.\n",
                    deb.name, deb.version
                ),
            )
            .unwrap();
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&tree)
                .arg(pool.join(format!("{}_{}_all.deb", deb.name, deb.version))));
        }
        let packages = run(Command::new("apt-ftparchive")
            .args(["packages", "."])
            .current_dir(&pool));
        std::fs::write(pool.join("Packages"), packages).unwrap();
        let release = run(Command::new("apt-ftparchive")
            .args(["release", "."])
            .current_dir(&pool));
        std::fs::write(pool.join("Release"), release).unwrap();
        let key = sign(dir.path(), &pool);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(serve(listener, pool));
        AptRepo {
            url,
            key,
            _dir: dir,
            task,
        }
    }

    /// Makes this repository the host's only package source.
    pub fn configure(&self, host: &TestHost) {
        std::fs::create_dir_all(host.path("etc/apt/keyrings")).unwrap();
        std::fs::write(host.path("etc/apt/keyrings/rivet-test.gpg"), &self.key).unwrap();
        // Nothing from the internet.
        std::fs::write(host.path("etc/apt/sources.list"), "").unwrap();
        std::fs::write(
            host.path("etc/apt/sources.list.d/rivet-test.list"),
            format!(
                "deb [signed-by=/etc/apt/keyrings/rivet-test.gpg] {} ./\n",
                self.url
            ),
        )
        .unwrap();
    }
}

impl Drop for AptRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Makes a key in a GnuPG home of its own, signs `Release` into
/// `InRelease`, stops the gpg-agent it started, and returns the public key.
fn sign(work: &Path, pool: &Path) -> Vec<u8> {
    let home = work.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let gpg = || {
        let mut gpg = Command::new("gpg");
        gpg.arg("--homedir").arg(&home).args(["--batch", "--quiet"]);
        gpg
    };
    run(gpg().args([
        "--passphrase",
        "",
        "--quick-gen-key",
        "Rivet test repository <tests@rivet.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    run(gpg()
        .args(["--yes", "--clearsign", "-o"])
        .arg(pool.join("InRelease"))
        .arg(pool.join("Release")));
    let key = run(gpg().arg("--export"));
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();
    key
}

/// Serves the files under `dir`: one GET per connection.
async fn serve(listener: TcpListener, dir: PathBuf) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let dir = dir.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("/");
            // apt asks for `/./InRelease` in a flat repository.
            let parts: Vec<&str> = path
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            let file = (!parts.contains(&".."))
                .then(|| dir.join(parts.join("/")))
                .filter(|f| f.is_file());
            let (status, body) = match file {
                Some(file) => ("200 OK", std::fs::read(file).unwrap()),
                None => ("404 Not Found", Vec::new()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        });
    }
}
