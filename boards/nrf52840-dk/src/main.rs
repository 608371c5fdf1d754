//! The fewshot serial device on an nRF52840 DK (PCA10056): the protocol on UARTE0 at
//! 115 200 baud, 8N1, on the pins of the on-board J-Link's virtual COM port (P0.06 TXD, P0.08
//! RXD: `/dev/ttyACM0` on the host), its saved state, class bank and signed model updates in
//! the last 256 KiB of the chip's flash through the NVMC (the layout made for the served
//! model's records, in 4 KiB pages), logs over defmt-rtt. See `boards/README.md`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embassy_nrf::buffered_uarte::{self, BufferedUarte};
use embassy_nrf::nvmc::{Nvmc, FLASH_SIZE};
use embassy_nrf::{bind_interrupts, peripherals, uarte};
use fewshot_boards::{Async, SerialDevice, Window};
use fewshot_protocol::device::Layout;
use static_cell::StaticCell;

/// Bytes of flash set aside for the device's slots (`memory.x` leaves them out of the program).
const SLOTS_LEN: u32 = 256 * 1024;
/// Where they start: the end of the flash.
const SLOTS_AT: u32 = FLASH_SIZE as u32 - SLOTS_LEN;
/// The slots for the served model's records, in the NVMC's 4 KiB pages.
const LAYOUT: Layout = fewshot_boards::layout::<Nvmc<'static>>();
const _: () = assert!(
    matches!(LAYOUT.end::<Nvmc<'static>>(), Some(n) if n <= SLOTS_LEN),
    "the model's records need more flash than SLOTS_LEN (and memory.x) set aside"
);

/// The device, built in place (`fewshot_boards::run`).
static DEVICE: StaticCell<SerialDevice<'static, Window<Nvmc<'static>>>> = StaticCell::new();

bind_interrupts!(struct Irqs {
    UARTE0 => buffered_uarte::InterruptHandler<peripherals::UARTE0>;
});

#[entry]
fn main() -> ! {
    // The DK's 32 MHz crystal: the UART's baud rate is then as accurate as the crystal.
    let mut config = embassy_nrf::config::Config::default();
    config.hfclk_source = embassy_nrf::config::HfclkSource::ExternalXtal;
    let p = embassy_nrf::init(config);
    defmt::info!("nrf52840-dk: flash slots at {=u32:#x}", SLOTS_AT);
    // SAFETY: the nRF52840's flash is mapped at address 0 (offset = address) for the program's
    // life; `memory.x` keeps the program out of the window, and the NVMC handle moved into it
    // is the only writer.
    let Some(flash) = (unsafe {
        Window::new(
            Nvmc::new(p.NVMC),
            SLOTS_AT,
            SLOTS_LEN,
            SLOTS_AT as *const u8,
        )
    }) else {
        defmt::panic!("flash window");
    };
    // `main` never returns: the buffers live as long as the UART.
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let uart = BufferedUarte::new(
        p.UARTE0,
        p.TIMER0,
        p.PPI_CH0,
        p.PPI_CH1,
        p.PPI_GROUP0,
        p.P0_08,
        p.P0_06,
        Irqs,
        uarte::Config::default(),
        &mut rx,
        &mut tx,
    );
    fewshot_boards::run(flash, &LAYOUT, DEVICE.uninit(), &mut Async(uart))
}
