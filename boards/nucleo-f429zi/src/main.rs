//! The fewshot serial device on a NUCLEO-F429ZI (STM32F429ZI): the protocol on USART3 at
//! 115 200 baud, 8N1, on the pins of the on-board ST-LINK's virtual COM port (PD8 TX, PD9 RX:
//! `/dev/ttyACM0` on the host), its saved state, class bank and signed model updates in flash
//! bank 2, logs over defmt-rtt. See `boards/README.md`.
//!
//! The F4's flash erases in sectors of 16, 64 and 128 KiB, and embassy's `Flash` erases in
//! blocks of the largest (`ERASE_SIZE` = 128 KiB). Bank 2 (sectors 12-23, 1 MiB) is eight such
//! blocks: sectors 12-16 (4 x 16 + 64 KiB) make the first, sectors 17-23 the other seven. The
//! device's layout for the served model's records (two slots each for the adapted state, the
//! model updates, the version floor and the class bank) takes whole blocks: eight for records
//! of up to 128 KiB each; the build fails when they need more than bank 2.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embassy_stm32::flash::{Blocking as BlockingFlash, Flash};
use embassy_stm32::usart::{self, BufferedUart};
use embassy_stm32::{bind_interrupts, peripherals};
use fewshot_boards::{Blocking, SerialDevice, Window};
use fewshot_protocol::device::Layout;
use static_cell::StaticCell;

/// The flash's erase block as embassy's `Flash` sees it (its `ERASE_SIZE`).
const BLOCK: u32 = 128 * 1024;
/// Bank 2: its offset in the flash, its bytes, and where the CPU reads it.
const BANK2_AT: u32 = 0x10_0000;
const BANK2_LEN: u32 = 8 * BLOCK;
const BANK2_ADDRESS: usize = 0x0810_0000;

/// The device's slots in bank 2, made for the served model's records.
const LAYOUT: Layout = fewshot_boards::layout::<Flash<'static, BlockingFlash>>();
const _: () = assert!(
    matches!(LAYOUT.end::<Flash<'static, BlockingFlash>>(), Some(n) if n <= BANK2_LEN),
    "the model's records need more flash than bank 2"
);

/// The device, built in place (`fewshot_boards::run`).
static DEVICE: StaticCell<SerialDevice<'static, Window<Flash<'static, BlockingFlash>>>> =
    StaticCell::new();

bind_interrupts!(struct Irqs {
    USART3 => usart::BufferedInterruptHandler<peripherals::USART3>;
});

#[entry]
fn main() -> ! {
    let p = embassy_stm32::init(Default::default());
    defmt::info!("nucleo-f429zi: flash slots in bank 2");
    // SAFETY: flash offset `BANK2_AT` is read at `BANK2_ADDRESS` for the program's life (the
    // flash is memory-mapped); `memory.x` keeps the program in bank 1, and the `Flash` handle
    // moved into the window is the only writer.
    let window = unsafe {
        Window::new(
            Flash::new_blocking(p.FLASH),
            BANK2_AT,
            BANK2_LEN,
            BANK2_ADDRESS as *const u8,
        )
    };
    let Some(flash) = window else {
        defmt::panic!("flash window");
    };
    // `main` never returns: the buffers live as long as the UART.
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let uart = match BufferedUart::new(
        p.USART3,
        p.PD9,
        p.PD8,
        &mut tx,
        &mut rx,
        Irqs,
        usart::Config::default(),
    ) {
        Ok(u) => u,
        Err(e) => defmt::panic!("usart3: {}", e),
    };
    fewshot_boards::run(flash, &LAYOUT, DEVICE.uninit(), &mut Blocking(uart))
}
