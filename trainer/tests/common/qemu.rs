//! A device on a line: QEMU running a serial firmware (mps2-an386, or `virt` for a RISC-V
//! build), its UART on a unix socket or a pseudo-terminal, or `trainer device-sim` on a
//! socket; and `trainer device --json` commands to it (`device_qemu.rs`,
//! `device_qemu_user.rs`).

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
    let (program, machine) = machine(elf);
    let child = Command::new(program)
        .args(machine)
        .args(["-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-chardev", chardev, "-serial", "chardev:s0", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).expect("the defmt log file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (cargo xtask setup installs it): {e}"));
    let qemu = Qemu(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !made.exists() {
        assert!(Instant::now() < deadline, "QEMU made no {}", made.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    qemu
}

/// `trainer device-sim`, killed when the test ends (passed or not).
pub struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `trainer device-sim` serving head `head` of `model` (updates signed with `key`) on
/// `socket`, once it accepts a connection; what it prints goes to `socket` with extension
/// `log`.
pub fn start_sim(model: &Path, head: usize, key: &Path, socket: &Path) -> Sim {
    start_sim_on(model, head, key, socket, None)
}

/// [`start_sim`], its flash kept in `flash` when given (`--flash`).
pub fn start_sim_on(
    model: &Path,
    head: usize,
    key: &Path,
    socket: &Path,
    flash: Option<&Path>,
) -> Sim {
    start_sim_with(model, head, key, socket, flash, &[])
}

/// [`start_sim_on`] with more of device-sim's options (`--max-steps N`).
pub fn start_sim_with(
    model: &Path,
    head: usize,
    key: &Path,
    socket: &Path,
    flash: Option<&Path>,
    extra: &[&str],
) -> Sim {
    let _ = std::fs::remove_file(socket);
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.arg("device-sim").args(extra);
    if let Some(f) = flash {
        command.arg("--flash").arg(f);
    }
    let child = command
        .arg("--model")
        .arg(model)
        .args(["--head", &head.to_string(), "--key"])
        .arg(key)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(socket.with_extension("log")).expect("the sim's log"))
        .spawn()
        .expect("the trainer binary runs");
    let mut sim = Sim(child);
    // Until it answers: the socket's file appears at its bind, before it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = || std::fs::read_to_string(socket.with_extension("log")).unwrap_or_default();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        if let Ok(Some(status)) = sim.0.try_wait() {
            panic!("device-sim stopped ({status}):\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "device-sim does not listen on {}:\n{}",
            socket.display(),
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sim
}

/// QEMU's program and machine for the firmware `elf`, by the target triple in its path:
/// RISC-V's `virt` (no firmware before the program), else the Cortex-M4F's mps2-an386.
fn machine(elf: &Path) -> (&'static str, &'static [&'static str]) {
    if elf
        .components()
        .any(|c| c.as_os_str() == "riscv32imac-unknown-none-elf")
    {
        ("qemu-system-riscv32", &["-M", "virt", "-bios", "none"])
    } else {
        ("qemu-system-arm", &["-M", "mps2-an386"])
    }
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
    let (replies, _, success) = device_measured(link, args);
    (replies, success)
}

/// `trainer device LINK --json ARGS`: its replies, the rest of its JSON object (what the
/// command measured: `accuracy`, `query_mse`) and whether it exited 0.
pub fn device_measured(
    link: &[&str],
    args: &[&str],
) -> (Vec<Value>, serde_json::Map<String, Value>, bool) {
    // A QEMU guest on a loaded CI machine can take more than the default 10 s to answer
    // after a reboot (the RISC-V firmware checking an installed update): a hang still fails.
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("device")
        .args(link)
        .args(["--json", "--timeout", "60"])
        .args(args)
        .output()
        .expect("the trainer binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Result<serde_json::Map<String, Value>, _> = serde_json::from_str(&text);
    let mut all = parsed.unwrap_or_else(|e| {
        panic!(
            "trainer device {args:?}: {e}\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    match all.remove("replies") {
        Some(Value::Array(replies)) => (replies, all, out.status.success()),
        other => panic!("trainer device {args:?}: replies {other:?}\nstdout: {text}"),
    }
}

/// `device`, which must succeed.
pub fn ok(socket: &Path, args: &[&str]) -> Vec<Value> {
    let (replies, success) = device(socket, args);
    assert!(success, "trainer device {args:?} was refused: {replies:?}");
    replies
}
