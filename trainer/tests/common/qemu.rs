//! QEMU's mps2-an386 running a serial firmware, its UART0 on a unix socket, and `trainer
//! device --json` commands to it (`device_qemu.rs`, `device_qemu_user.rs`).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// QEMU, killed when the test ends (passed or not).
pub struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts QEMU on `elf`, its UART0 on `socket` (waited for), its defmt output into `log`.
pub fn start_qemu(elf: &Path, socket: &Path, log: &Path) -> Qemu {
    let chardev = format!("socket,id=s0,path={},server=on,wait=off", socket.display());
    spawn(elf, &chardev, socket, log)
}

/// Starts QEMU on `elf`, its UART0 on a pseudo-terminal (`-chardev pty`) that `link` (a
/// symbolic link QEMU makes) names, its defmt output into `log`.
pub fn start_qemu_pty(elf: &Path, link: &Path, log: &Path) -> Qemu {
    let _ = std::fs::remove_file(link);
    spawn(
        elf,
        &format!("pty,id=s0,path={}", link.display()),
        link,
        log,
    )
}

/// QEMU on `elf` with UART0 on the character device `chardev` (id `s0`), once `made` (the
/// socket or link it creates) exists.
fn spawn(elf: &Path, chardev: &str, made: &Path, log: &Path) -> Qemu {
    let child = Command::new("qemu-system-arm")
        .args(["-M", "mps2-an386", "-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-chardev", chardev, "-serial", "chardev:s0", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).expect("the defmt log file"))
        .spawn()
        .expect("qemu-system-arm (cargo xtask setup installs it)");
    let qemu = Qemu(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !made.exists() {
        assert!(Instant::now() < deadline, "QEMU made no {}", made.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    qemu
}

impl Qemu {
    /// Stops QEMU and returns its defmt log, decoded by `defmt-print` with `elf` (what `cargo
    /// xtask setup` installs).
    pub fn stop_and_read_log(mut self, elf: &Path, log: &Path) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let out = Command::new("defmt-print")
            .arg("-e")
            .arg(elf)
            .stdin(std::fs::File::open(log).expect("the defmt log file"))
            .output()
            .expect("defmt-print (cargo xtask setup installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `trainer device --socket S --json ARGS`: its replies and whether it exited 0.
pub fn device(socket: &Path, args: &[&str]) -> (Vec<Value>, bool) {
    let link = ["--socket", socket.to_str().expect("a UTF-8 path")];
    device_on(&link, args)
}

/// `trainer device LINK --json ARGS` (`LINK`: `--socket PATH` or `--port PATH`): its replies
/// and whether it exited 0.
pub fn device_on(link: &[&str], args: &[&str]) -> (Vec<Value>, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("device")
        .args(link)
        .arg("--json")
        .args(args)
        .output()
        .expect("the trainer binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let replies = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "trainer device {args:?}: {e}\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (replies, out.status.success())
}

/// `device`, which must succeed.
pub fn ok(socket: &Path, args: &[&str]) -> Vec<Value> {
    let (replies, success) = device(socket, args);
    assert!(success, "trainer device {args:?} was refused: {replies:?}");
    replies
}
