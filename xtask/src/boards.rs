//! `cargo xtask boards`: the real-board firmwares in `boards/` (nRF52840 DK, NUCLEO-F429ZI)
//! linted and built in release, with their flash and RAM. Nothing runs them: no board is
//! attached to CI.

use crate::firmware::{read_elf, target_dir};
use crate::run;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The board packages. Each is built on its own: built together, their HALs would unify the
/// features of shared embassy crates (the interrupt priority bits differ: 3 on nRF, 4 on STM32).
const BOARDS: &[&str] = &["nrf52840-dk", "nucleo-f429zi"];

/// Their target (`boards/.cargo/config.toml`).
const TRIPLE: &str = "thumbv7em-none-eabihf";

/// Format check, clippy with `-D warnings`, a release build and the size table of each board.
pub fn ci(root: &Path) -> Result<()> {
    let dir = root.join("boards");
    run(&dir, "cargo", &["fmt", "--check"])?;
    for board in BOARDS {
        run(
            &dir,
            "cargo",
            &[
                "clippy",
                "--release",
                "-p",
                board,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
        run(&dir, "cargo", &["build", "--release", "-p", board])?;
    }
    println!(
        "| board ({TRIPLE}, release) | .text | .rodata | .data | .bss | flash | RAM (static) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for board in BOARDS {
        let e = read_elf(&release_elf(&dir, board))?;
        let text = e.section_size(".text") + e.section_size(".vector_table");
        let rodata = e.section_size(".rodata");
        let data = e.alloc_size(&[".data"], false);
        let bss = e.alloc_size(&[".bss", ".uninit"], true);
        println!(
            "| {board} | {text} | {rodata} | {data} | {bss} | {} | {} |",
            text + rodata + data,
            data + bss
        );
    }
    println!(".text includes the vector table; RAM (static) leaves out the stack");
    Ok(())
}

/// A board's release ELF.
fn release_elf(dir: &Path, board: &str) -> PathBuf {
    target_dir(dir).join(TRIPLE).join("release").join(board)
}
