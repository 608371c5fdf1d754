//! A firmware of your own around `fewshot-runtime`, to copy: it loads a model from flash,
//! adapts its head to a support set (`Learner`), enrolls a class of its own (`ClassBank`),
//! classifies, and saves and restores both on NOR flash, with every size from the generated
//! `src/sizes.rs`. Under QEMU (`cargo run --release`) it prints what it does and exits 0.
#![no_std]
#![no_main]

#[allow(dead_code)] // a firmware uses some of the sizes
mod sizes; // trainer inspect ../firmware/fixtures/multihead.fsm --rust --head 1 --k 20 > src/sizes.rs

mod flash;

use core::mem::MaybeUninit;
#[cfg(target_arch = "arm")]
use cortex_m as _; // its critical section (cortex-m's `critical-section-single-core`)
#[cfg(target_arch = "arm")]
use cortex_m_rt::entry;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::{Error, Model, Support};
#[cfg(target_arch = "riscv32")]
use riscv as _; // its critical section (riscv's `critical-section-single-hart`)
#[cfg(target_arch = "riscv32")]
use riscv_rt::entry;
use semihosting::println;
use static_cell::StaticCell;

/// The model, embedded 4-byte aligned in flash (the path is relative to this file).
static MODEL: &[u8] = fewshot_runtime::include_model!("../../firmware/fixtures/multihead.fsm");
// `src/sizes.rs` generated from another model fails the build here.
const _: () = sizes::check_model(MODEL);
// So does a model that needs a runtime feature this build lacks (Cargo.toml's features).
const _: () = sizes::check_features();
// The example adapts its head from at least one sample of each class.
const _: () = assert!(
    sizes::K_MAX >= sizes::OUTPUTS,
    "K_MAX (`trainer inspect --rust --k`) is below the head's classes: give --k of at least one sample per class"
);

// What the program keeps in RAM lives in statics, built in place: the linker counts them
// against the part's RAM (memory.x), and refuses a build that leaves the stack less than
// memory.x's `_min_stack`, where on the stack an overflow would go unnoticed.
static LOADED: StaticCell<Model<'static>> = StaticCell::new();
static LEARNER: StaticCell<sizes::Learner<'static>> = StaticCell::new();
static BANK: StaticCell<sizes::ClassBank<'static>> = StaticCell::new();
static RESTORED_BANK: StaticCell<sizes::ClassBank<'static>> = StaticCell::new();
/// The support set: your input rows (K_MAX of them).
static SUPPORT: StaticCell<[f32; sizes::K_MAX * sizes::INPUTS]> = StaticCell::new();

/// Row `i` of class `c` of this example's data (8 features; your samples come from your
/// sensor): feature `c` (and `c + 5`) high.
fn sample(c: usize, i: usize) -> [f32; sizes::INPUTS] {
    core::array::from_fn(|j| if j % 5 == c { 3.0 } else { 0.0 } + 0.1 * ((i + j) % 3) as f32)
}

#[entry]
fn main() -> ! {
    let code = match run() {
        Ok(true) => 0,
        Ok(false) => {
            // Not an error of the runtime: this example's rows and model give other answers
            // than the ones checked below. With your model and rows, check your own.
            println!("check: an answer differs from the one this example expects");
            2
        }
        Err(e) => {
            println!("error: {e}");
            1
        }
    };
    semihosting::process::exit(code)
}

/// Runs the example: Ok(whether every answer is the one expected of this example's rows).
fn run() -> Result<bool, Error> {
    let model: &'static Model<'static> = LOADED.init(Model::from_bytes(MODEL)?);
    println!(
        "model {:?}: head {:?}",
        model.name(),
        sizes::HEAD_NAMES[sizes::HEAD]
    );

    // The head's classes (OUTPUTS of them) from up to 4 samples each, as many as the scratch
    // was sized for (K_MAX in all), then the model's steps.
    let (ways, shots) = (sizes::OUTPUTS, (sizes::K_MAX / sizes::OUTPUTS).min(4));
    let xs = zeroed(SUPPORT.uninit());
    let mut labels = [0u16; sizes::K_MAX];
    let rows = (0..ways).flat_map(|c| (0..shots).map(move |i| (c, i)));
    let slots = xs.chunks_exact_mut(sizes::INPUTS).zip(labels.iter_mut());
    let mut n = 0;
    for ((c, i), (x, label)) in rows.zip(slots) {
        x.copy_from_slice(&sample(c, i));
        *label = c as u16;
        n += 1;
    }
    let support = Support::classes(&xs[..n * sizes::INPUTS], &labels[..n]);
    let learner = sizes::Learner::init(LEARNER.uninit(), model, sizes::HEAD)?;
    let report = learner.adapt(support)?;
    println!(
        "adapted: support loss {} -> {}",
        report.initial_loss, report.final_loss
    );
    let right = (0..ways)
        .filter(|&c| {
            learner
                .classify(&sample(c, 7))
                .is_ok_and(|(class, _)| class as usize == c)
        })
        .count();
    println!("learner: {right} of {ways} new rows right");

    // Flash: two slots for the adapted state, two for the class bank, each sized by the model.
    const STATE_SLOT: u32 = sizes::state_slot::<flash::RamFlash>();
    const BANK_SLOT: u32 = sizes::bank_slot::<flash::RamFlash>();
    let mut flash = flash::RamFlash::take().expect("the flash is taken once");
    let state_slots = Slots::new(&flash, 0, STATE_SLOT)?;
    let bank_slots = Slots::new(&flash, 2 * STATE_SLOT, BANK_SLOT)?;
    let saved = state_slots.save(&mut flash, model, learner.state())?;
    let before = learner.classify(&sample(2, 9))?;
    learner.reset()?;
    learner.restore(&state_slots, &mut flash)?;
    let after = learner.classify(&sample(2, 9))?;
    println!(
        "state saved (sequence {}) and restored: the same answer, bit for bit: {}",
        saved.sequence,
        before.0 == after.0 && before.1.to_bits() == after.1.to_bits()
    );

    // The class bank: classes of your own under your labels. It needs a head exported with
    // `--max-classes` (an enrollable head; `sizes::ClassBank` exists only then): for another
    // head, delete from here to the end of `run` (and the bank's slots above).
    // Class 100: every feature high; class 101: the example's class 0; 5 samples each.
    let mine = |i: usize| -> [f32; sizes::INPUTS] {
        core::array::from_fn(|j| 2.0 + 0.1 * ((i + j) % 3) as f32)
    };
    let bank = sizes::ClassBank::init(BANK.uninit(), model, sizes::HEAD)?;
    let mut five = [0.0f32; 5 * sizes::INPUTS];
    for (label, row_of) in [
        (100, &mine as &dyn Fn(usize) -> _),
        (101, &|i| sample(0, i)),
    ] {
        for (i, row) in five.chunks_exact_mut(sizes::INPUTS).enumerate() {
            row.copy_from_slice(&row_of(i));
        }
        bank.enroll(label, &five)?;
    }
    let (label, p) = bank.classify(&mine(6))?;
    let (other, _) = bank.classify(&sample(0, 6))?;
    println!("bank: new rows of classes 100 and 101 are {label} (p = {p}) and {other}");
    bank_slots.save_bank(&mut flash, bank)?;
    let restored = sizes::ClassBank::init(RESTORED_BANK.uninit(), model, sizes::HEAD)?;
    bank_slots.restore_bank(&mut flash, restored)?;
    let (again, _) = restored.classify(&mine(6))?;
    println!("bank restored from flash: {again}");
    Ok(right == ways && (label, other, again) == (100, 101, 100))
}

/// `slot` as an array of zeros, written in place (never on the stack).
fn zeroed<const N: usize>(slot: &'static mut MaybeUninit<[f32; N]>) -> &'static mut [f32; N] {
    // SAFETY: all-zero bits are 0.0 in every f32 of the array, which is then initialised.
    unsafe {
        slot.as_mut_ptr().write_bytes(0, 1);
        slot.assume_init_mut()
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("{info}");
    semihosting::process::exit(101)
}

/// A fault ends the run (cortex-m-rt's default handler would spin, and QEMU with it).
#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    println!("HardFault at pc {:#010x}", frame.pc());
    semihosting::process::exit(102)
}

/// A fault ends the run on RISC-V too (riscv-rt's default handler would spin).
#[cfg(target_arch = "riscv32")]
#[export_name = "ExceptionHandler"]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    let pc = riscv::register::mepc::read();
    let cause = riscv::register::mcause::read().bits();
    println!("exception at pc {pc:#010x} (mcause {cause})");
    semihosting::process::exit(102)
}
