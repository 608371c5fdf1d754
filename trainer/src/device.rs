//! The host end of the serial protocol (`fewshot-protocol`): [`Client`] sends a request frame
//! over a serial port or a unix socket (QEMU's `-chardev socket`) and reads the reply frame;
//! [`read_rows`] reads a CSV of samples for the device, with the trainer's CSV conventions.

pub use crate::classify::data::Columns;
use crate::csvio;
use crate::input_columns::{match_by_name, Matched};
use anyhow::{anyhow, bail, Context, Result};
use fewshot_protocol::frame::{self, Frame, FrameReader};
use fewshot_protocol::{DeviceError, Info, Reply, Request, MAX_FRAME, PROTOCOL_VERSION};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A byte stream to a device.
pub trait Link: Read + Write + Send {}
impl<T: Read + Write + Send> Link for T {}

/// A connection to a device: one reply per request.
pub struct Client {
    link: Box<dyn Link>,
    reader: FrameReader<{ MAX_FRAME - 1 }>,
    /// Bytes read past the last reply's frame (the next reply's, when two came in one read).
    pending: std::collections::VecDeque<u8>,
    timeout: Duration,
}

impl Client {
    /// Over `link`, waiting at most `timeout` for each reply (`link` must time out its reads
    /// well within that, so the deadline is checked).
    pub fn new(link: Box<dyn Link>, timeout: Duration) -> Self {
        Client {
            link,
            reader: FrameReader::new(),
            pending: Default::default(),
            timeout,
        }
    }

    /// Drops what the line holds (a reply an earlier client did not read): reads until one read
    /// times out, for at most a second.
    fn drain(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut chunk = [0u8; 256];
        while started.elapsed() < Duration::from_secs(1) {
            match self.link.read(&mut chunk) {
                Ok(0) => bail!("the device closed the connection"),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => break,
                Err(e) => return Err(e).context("reading from the device"),
            }
        }
        Ok(())
    }

    /// A unix socket (`trainer device-sim --socket PATH`; QEMU: `-chardev
    /// socket,id=s0,path=PATH,server=on,wait=off -serial chardev:s0`).
    #[cfg(unix)]
    pub fn socket(path: &Path, timeout: Duration) -> Result<Self> {
        use std::io::ErrorKind;
        use std::os::unix::net::UnixStream;
        // A device started a moment ago (`device-sim ... &`) may not listen yet: a short wait.
        let started = Instant::now();
        let mut connected = UnixStream::connect(path);
        while let Err(e) = &connected {
            let early = matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused);
            if !early || started.elapsed() > Duration::from_millis(500) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            connected = UnixStream::connect(path);
        }
        let s = connected.map_err(|e| {
            use std::os::unix::fs::FileTypeExt;
            let not_socket = std::fs::metadata(path).is_ok_and(|m| !m.file_type().is_socket());
            let hint = match e.kind() {
                _ if not_socket => ": not a socket (give the path device-sim or QEMU listens on)",
                ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                    ": no device listens there (start `trainer device-sim --socket PATH`, or QEMU with the firmware; a socket file left by a stopped one answers nothing)"
                }
                _ => "",
            };
            anyhow!("connecting to {}: {e}{hint}", path.display())
        })?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut c = Self::new(Box::new(s), timeout);
        c.drain()?;
        Ok(c)
    }

    /// A TCP connection to `addr` (`HOST:PORT`: QEMU's `-chardev
    /// socket,id=s0,host=127.0.0.1,port=PORT,server=on,wait=off -serial chardev:s0`, or a
    /// serial-to-network bridge).
    pub fn tcp(addr: &str, timeout: Duration) -> Result<Self> {
        let s = std::net::TcpStream::connect(addr).with_context(|| {
            format!(
                "connecting to {addr} (is the device, or QEMU with the firmware, listening there?)"
            )
        })?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        s.set_nodelay(true)?;
        let mut c = Self::new(Box::new(s), timeout);
        c.drain()?;
        Ok(c)
    }

    /// A serial port (a board's UART, or QEMU's `-serial pty`), 8N1 at `baud`.
    pub fn port(path: &str, baud: u32, timeout: Duration) -> Result<Self> {
        let p = serialport::new(path, baud)
            .timeout(Duration::from_millis(100))
            .open()
            .with_context(|| format!("opening serial port {path}"))?;
        let mut c = Self::new(Box::new(p), timeout);
        c.drain()?;
        Ok(c)
    }

    /// The device's `Info`. A device that refuses the request's frame as damaged is asked
    /// again in the framing of protocols before 7 (without the frame check), so that an older
    /// device names its version.
    pub fn info(&mut self) -> Result<Info> {
        let first = self.ask(&Request::Info);
        // An older device refuses the checked frame, its refusal itself unchecked.
        let refused = match &first {
            Ok(Reply::Error(DeviceError::BadFrame { .. })) => true,
            Err(e) => e.is::<LegacyFraming>(),
            Ok(_) => false,
        };
        if refused {
            // `Info` unchecked, between delimiters.
            let [a, b] = frame::LEGACY_INFO;
            self.send(&[0, a, b, 0])?;
            return match self.read_reply()? {
                Reply::Info(i) => Ok(i),
                r => bail!("the device refuses this host's frames as damaged ({r:?}): is the line noisy (baud rate)?"),
            };
        }
        match first? {
            Reply::Info(i) => Ok(i),
            r => bail!("asked for its info, the device answered {r:?}"),
        }
    }

    /// Asks the device for its `Info` and refuses one of another protocol version (which
    /// might take a request of this one for something else and run it).
    pub fn check_protocol(&mut self) -> Result<()> {
        match self.info()?.protocol_version {
            v if v != PROTOCOL_VERSION => Err(mismatch(v)),
            _ => Ok(()),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.link
            .write_all(bytes)
            .context("writing to the device")?;
        self.link.flush().context("writing to the device")
    }

    /// Sends `request` and returns the device's reply (an error reply is a reply: see
    /// [`Reply::Error`]). Replies of another kind than the request gets are skipped: a reply
    /// left on the line by an earlier request that was not read.
    pub fn ask(&mut self, request: &Request) -> Result<Reply> {
        let mut buf = [0u8; MAX_FRAME + 1];
        // A leading delimiter ends whatever partial frame the line may hold.
        let len = frame::encode(request, &mut buf[1..])?.len();
        self.send(buf.get(..=len).context("frame length")?)?;
        // A `BadFrame` of another length than this request's frame answers bytes the line held
        // before it (a byte a reset left on the UART, ended by the leading delimiter): the
        // request's own reply follows.
        let sent = u16::try_from(len - 1).unwrap_or(u16::MAX);
        for _ in 0..8 {
            match self.read_reply()? {
                Reply::Error(DeviceError::BadFrame { len }) if len != sent => {}
                reply if !request.answered_by(&reply) => {}
                reply => return Ok(reply),
            }
        }
        bail!("the device answered eight frames that were not this request's reply: is another client talking to it, or the line noisy (baud rate)?")
    }

    fn read_reply(&mut self) -> Result<Reply> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 64];
        loop {
            while let Some(b) = self.pending.pop_front() {
                match self.reader.push(b) {
                    Some(Frame::Whole(f)) => return reply_of(f),
                    Some(Frame::TooLong) => bail!("a reply longer than {MAX_FRAME} bytes"),
                    None => {}
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no reply within {:?} (is the device running? device-sim and QEMU serve one connection at a time: another client holding it open keeps this one waiting)",
                    self.timeout
                );
            }
            let n = match self.link.read(&mut chunk) {
                Ok(0) => bail!("the device closed the connection"),
                Ok(n) => n,
                Err(e) if is_timeout(&e) => continue,
                Err(e) => return Err(e).context("reading from the device"),
            };
            self.pending.extend(&chunk[..n]);
        }
    }
}

/// A reply frame decoded; one that does not decode names the device's protocol version when
/// it is an `Info` of another version, and is [`LegacyFraming`] when it is a reply of a
/// protocol before 7 (no check).
fn reply_of(f: &mut [u8]) -> Result<Reply> {
    let (mut copy, mut unchecked) = (f.to_vec(), f.to_vec());
    frame::decode(f).or_else(|e| match frame::info_version(&mut copy) {
        Some(v) if v != PROTOCOL_VERSION => Err(mismatch(v)),
        _ => match frame::decode_unchecked::<Reply>(&mut unchecked) {
            // This version's `Info`, unchecked: a device's answer to the unchecked `Info`
            // that `Client::info` sends after a refusal (a noisy line).
            Ok(info @ Reply::Info(_)) => Ok(info),
            Ok(_) => Err(anyhow::Error::new(LegacyFraming)),
            Err(_) => Err(anyhow!(
                "{e} (a reply of fewshot-protocol {PROTOCOL_VERSION} expected)"
            )),
        },
    })
}

/// A reply in the framing of protocols before 7, without the check: an older device's, which
/// [`Client::info`] then asks in its own framing.
#[derive(Debug)]
struct LegacyFraming;

impl std::fmt::Display for LegacyFraming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the device answers in the framing of protocols before 7 (no frame check): update its firmware, or use a trainer of its version"
        )
    }
}

impl std::error::Error for LegacyFraming {}

/// A device of protocol version `v`, not this host's.
fn mismatch(v: u16) -> anyhow::Error {
    let fix = if v > PROTOCOL_VERSION {
        "use a trainer of the firmware's version or newer"
    } else {
        "update the device's firmware, or use a trainer of its version"
    };
    anyhow!("the device speaks fewshot-protocol {v}, this host {PROTOCOL_VERSION}: {fix}")
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::Interrupted
    )
}

/// One CSV row for the device: its input, and the other columns (a class label, or regression
/// targets), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// File line (1-based).
    pub line: usize,
    /// The input (the model's `inputs` floats).
    pub x: Vec<f32>,
    /// The label or targets: a header's `label` column, else the columns after the input.
    pub rest: Vec<f64>,
    /// A header's `label` column when it holds a class name (not a number): the row's class
    /// by name (`device enroll --class`); `rest` then has no label.
    pub class: Option<String>,
}

/// The rows of a CSV file (gzip accepted) for a model of `inputs` floats per sample. As the
/// trainer reads CSV: an optional header, whose column `label` (anywhere) is the label; without
/// one (or without a `label` column) the first `inputs` columns are the input and the others,
/// if any, the label or targets. Every value must be finite as f32, but for a `label` column's
/// class names ([`Row::class`]).
pub fn read_rows(path: &Path, inputs: usize) -> Result<Vec<Row>> {
    read_rows_labelled(path, inputs, Columns::default())
}

/// [`read_rows`] with the label in the header's column `cols.label` (`None`: the column named
/// `label`; an error when the file has no header or no such column) and the header's columns
/// `cols.ignore` read by nothing.
pub fn read_rows_labelled(path: &Path, inputs: usize, cols: Columns) -> Result<Vec<Row>> {
    Ok(read_rows_named(path, inputs, cols, None)?.0)
}

/// [`read_rows_labelled`] with the input columns found by name when `names` (a model's input
/// names, in its order: its run record's) are given and the header has them: each row's input
/// is those columns in the model's order; beside a label column the others are not read,
/// without one they follow in the file's order (the label or targets), as they would after
/// the input by position ([`crate::input_columns::match_by_name`]; a header without the names
/// is read by position). Also returns what the user is told about the match, if anything.
pub fn read_rows_named(
    path: &Path,
    inputs: usize,
    cols: Columns,
    names: Option<&[String]>,
) -> Result<(Vec<Row>, Option<String>)> {
    let file = path.display().to_string();
    let (text, _) = csvio::read_text(path)?;
    let csvio::Table {
        rows: mut records,
        columns,
    } = csvio::records(&text, &file)?;
    let mut label = None;
    let mut header = None;
    let name = cols.label.unwrap_or("label");
    let next = records.get(1).map(|(_, c)| c.as_slice());
    if records
        .first()
        .is_some_and(|(_, c)| csvio::is_header(c, next))
    {
        let (_, h) = records.remove(0);
        label = csvio::column(&h, name);
        header = Some(h);
    }
    if let (Some(l), None) = (cols.label, label) {
        bail!("{file}: no header column named {l:?} (--label-column)");
    }
    if header.is_none() && !cols.ignore.is_empty() {
        bail!("{file}: --ignore-columns names header columns, and the file has no header line");
    }
    let mut ignored = csvio::ignored(header.as_deref(), cols.ignore).map_err(|m| {
        anyhow!(
            "{file}: {}",
            m.replace("`ignore_columns`", "--ignore-columns")
        )
    })?;
    if label.is_some_and(|l| ignored.contains(&l)) {
        bail!("{file}: --ignore-columns names the label column");
    }
    let (order, note) = match (names, &header) {
        (Some(names), Some(h)) => {
            let m = by_name(names, h, (label, &ignored), inputs, &file)?;
            ignored.extend(m.unread);
            (m.order, m.note)
        }
        _ => (None, None),
    };
    let mut rows = Vec::with_capacity(records.len());
    for (line, cells) in records {
        let read = |i: &usize| !ignored.contains(i);
        let width = (0..cells.len())
            .filter(read)
            .count()
            .saturating_sub(usize::from(label.is_some()));
        if width < inputs {
            bail!("{file}:{line}: {width} feature columns, the model takes {inputs}");
        }
        // Beside a label column every other column read is an input: more would be dropped
        // (checked once the values parse: a column of words is named there).
        let too_wide = width > inputs && label.is_some() && order.is_none();
        let mut values = Vec::with_capacity(cells.len());
        let mut class = None;
        for (i, c) in cells.iter().enumerate().filter(|(i, _)| read(i)) {
            // A label that is not a number is a class name, kept as text.
            if Some(i) == label && c.trim().parse::<f64>().is_err() && !c.trim().is_empty() {
                class = Some(c.trim().to_string());
                continue;
            }
            let missing = csvio::is_missing(c);
            let v = csvio::finite_f32(c).map_err(|m| match header.as_ref().and_then(|h| h.get(i)) {
                _ if missing => anyhow!(
                    "{file}:{line}: column {}: {c:?}, a missing value (the model takes every input of every row: fill it in or drop the row)",
                    columns.number(i)
                ),
                Some(name) if c.trim().parse::<f64>().is_err() && !m.contains("decimal comma") => anyhow!(
                    "{file}:{line}: column {} ({name:?}): {m} (a column that is neither a feature nor the label: --ignore-columns {w}; the labels: --label-column {w})",
                    columns.number(i),
                    w = csvio::shell_word(name)
                ),
                Some(name) => anyhow!("{file}:{line}: column {} ({name:?}): {m}", columns.number(i)),
                None => anyhow!("{file}:{line}: column {}: {m}", columns.number(i)),
            })?;
            values.push(v);
        }
        if too_wide {
            let read: Vec<&str> = header
                .iter()
                .flatten()
                .enumerate()
                .filter(|(i, _)| Some(*i) != label && !ignored.contains(i))
                .map(|(_, n)| n.as_str())
                .collect();
            bail!(
                "{file}:{line}: {width} feature columns beside the label ({}), the model takes {inputs}: --ignore-columns NAME for a column that is not an input, or --model MODEL to read the model's input columns by name",
                crate::input_columns::names(&read)
            );
        }
        // The label's place among the columns read.
        let label_at = label.map(|l| (0..l).filter(read).count());
        let label_value = label_at
            .filter(|_| class.is_none())
            .map(|l| values.remove(l));
        if let Some(order) = &order {
            let picked: Option<Vec<f64>> = order.iter().map(|&i| values.get(i).copied()).collect();
            values =
                picked.with_context(|| format!("{file}:{line}: fewer columns than its header"))?;
        }
        let rest: Vec<f64> = label_value
            .into_iter()
            .chain(values.drain(inputs..))
            .collect();
        let x = values.iter().map(|&v| v as f32).collect();
        rows.push(Row {
            line,
            x,
            rest,
            class,
        });
    }
    Ok((rows, note))
}

/// How [`by_name`] reads a file's columns for a model.
struct ByName {
    /// The permutation of a row's values read (the label and `unread` taken out) that puts the
    /// model's inputs first, in its order; None when they come so already.
    order: Option<Vec<usize>>,
    /// Header columns left unread (beside a label column, those that are not inputs).
    unread: Vec<usize>,
    /// What the user is told.
    note: Option<String>,
}

/// The model's input columns `names` found in `header` (the label and `ignored` columns
/// aside): read in the model's order; beside a label column the others are not read, without
/// one they follow the inputs in the file's order (the label or targets). None of them named
/// so: read by position.
fn by_name(
    names: &[String],
    header: &[String],
    (label, ignored): (Option<usize>, &[usize]),
    inputs: usize,
    file: &str,
) -> Result<ByName> {
    if names.len() != inputs {
        bail!(
            "the run record names {} input columns, the device's model takes {inputs}: the record is another model's",
            names.len()
        );
    }
    let read: Vec<usize> = (0..header.len())
        .filter(|i| Some(*i) != label && !ignored.contains(i))
        .collect();
    let read_names: Vec<String> = read.iter().map(|&i| header[i].clone()).collect();
    let what = format!("{file}'s header");
    let none = |note| ByName {
        order: None,
        unread: Vec::new(),
        note,
    };
    let (order, after) = match match_by_name(names, &read_names, &what)? {
        Matched::Unnamed => return Ok(none(Matched::Unnamed.note(file, names))),
        Matched::Same => return Ok(none(None)),
        Matched::Select { order, unread } => (order, unread),
    };
    let mut note = format!(
        "{file}: its input columns read by name in the model's order ({})",
        crate::input_columns::names(names)
    );
    if label.is_some() {
        // The label has its column: the others are not read (nor parsed).
        let unread: Vec<usize> = (0..read.len())
            .filter(|r| !order.contains(r))
            .map(|r| read[r])
            .collect();
        // Each input's place among the inputs in the file's order.
        let mut kept = order.clone();
        kept.sort_unstable();
        let perm: Vec<usize> = order
            .iter()
            .map(|r| kept.iter().position(|k| k == r).unwrap_or(0))
            .collect();
        if !after.is_empty() {
            note += &format!("; not read: {}", crate::input_columns::names(&after));
        }
        let identity = perm.iter().enumerate().all(|(i, &p)| i == p);
        return Ok(ByName {
            order: (!identity).then_some(perm),
            unread,
            note: Some(note),
        });
    }
    let mut perm = order.clone();
    perm.extend((0..read.len()).filter(|i| !order.contains(i)));
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(none(None)); // the inputs first, the label or targets after them
    }
    if !after.is_empty() {
        note += &format!(
            "; after them, as the label or targets: {}",
            crate::input_columns::names(&after)
        );
    }
    Ok(ByName {
        order: Some(perm),
        unread: Vec::new(),
        note: Some(note),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device line that answers with `replies`, whatever is written to it.
    struct Canned(std::io::Cursor<Vec<u8>>);
    impl Read for Canned {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Canned {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn answering(replies: &[Reply]) -> Client {
        let mut bytes = Vec::new();
        let mut buf = [0u8; MAX_FRAME];
        for r in replies {
            bytes.extend(frame::encode(r, &mut buf).unwrap());
        }
        Client::new(
            Box::new(Canned(std::io::Cursor::new(bytes))),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn a_bad_frame_reply_to_bytes_before_the_request_is_skipped() {
        use fewshot_protocol::DeviceError::BadFrame;
        let done = || Reply::Done;
        // A stray byte before the request's leading delimiter: BadFrame of 1, then the reply.
        let mut c = answering(&[Reply::Error(BadFrame { len: 1 }), done()]);
        assert_eq!(c.ask(&Request::Reset).unwrap(), Reply::Done);
        // The request's own frame refused (its length, 2 for `Reset`): that is the reply.
        let mut buf = [0u8; MAX_FRAME];
        let sent = frame::encode(&Request::Reset, &mut buf).unwrap().len() as u16 - 1;
        let mut c = answering(&[Reply::Error(BadFrame { len: sent }), done()]);
        let r = c.ask(&Request::Reset).unwrap();
        assert_eq!(r, Reply::Error(BadFrame { len: sent }));
    }

    #[test]
    fn a_reply_left_on_the_line_by_an_earlier_request_is_skipped() {
        // A client that stopped before reading `ClearSamples`' reply: the next request's
        // reply follows it.
        let stale = Reply::Samples {
            stored: 0,
            capacity: 20,
        };
        let mut c = answering(&[stale.clone(), Reply::Done]);
        assert_eq!(c.ask(&Request::Reset).unwrap(), Reply::Done);
        let mut c = answering(&[stale.clone(), stale]);
        assert!(c.ask(&Request::Reset).is_err());
    }

    #[test]
    fn a_device_of_a_protocol_without_the_frame_check_is_named() {
        use fewshot_protocol::DeviceError::BadFrame;
        // A version-6 device refuses the checked `Info` as damaged, then answers the
        // unchecked one with its `Info`, itself unchecked.
        // Its `BadFrame { len: 6 }` (variant 11, 0, 6) without a check, then its `Info`'s
        // variant 0 and version 6 (varints) and a byte: COBS, delimited.
        let legacy = [0x02, 0x0b, 0x02, 0x06, 0x00, 0x01, 0x03, 0x06, 0x07, 0x00];
        let mut c = Client::new(
            Box::new(Canned(std::io::Cursor::new(legacy.to_vec()))),
            Duration::from_secs(1),
        );
        let e = c.check_protocol().unwrap_err().to_string();
        assert!(e.contains("speaks fewshot-protocol 6, this host 7"), "{e}");
        assert!(e.contains("update the device's firmware"), "{e}");
        // A device that refuses the checked frame in this framing (a noisy line) is asked
        // again unchecked too.
        let mut bytes = Vec::new();
        let mut buf = [0u8; MAX_FRAME];
        let sent = frame::encode(&Request::Info, &mut buf).unwrap().len() as u16 - 1;
        bytes.extend(frame::encode(&Reply::Error(BadFrame { len: sent }), &mut buf).unwrap());
        bytes.extend([0x01, 0x03, 0x06, 0x07, 0x00]);
        let mut c = Client::new(
            Box::new(Canned(std::io::Cursor::new(bytes))),
            Duration::from_secs(1),
        );
        let e = c.check_protocol().unwrap_err().to_string();
        assert!(e.contains("speaks fewshot-protocol 6, this host 7"), "{e}");
        // A device of this version refusing the checked frame (a noisy line) answers the
        // unchecked `Info` with its own, unchecked: served.
        let info = Info {
            protocol_version: PROTOCOL_VERSION,
            model_id: 1,
            model_crc: 2,
            model_name: Default::default(),
            input_len: 8,
            heads: Default::default(),
            adapted_head: 0,
            max_samples: 20,
            free_samples: 20,
            installed: None,
            bank: None,
            served_slot: None,
            installed_refused: false,
            max_steps: 3,
        };
        let mut bytes = Vec::new();
        bytes.extend(frame::encode(&Reply::Error(BadFrame { len: sent }), &mut buf).unwrap());
        bytes.extend(frame::encode_unchecked(&Reply::Info(info.clone()), &mut buf).unwrap());
        let mut c = Client::new(
            Box::new(Canned(std::io::Cursor::new(bytes))),
            Duration::from_secs(1),
        );
        assert_eq!(c.info().unwrap(), info);
    }

    #[test]
    fn a_reply_of_another_protocol_version_names_it() {
        let mut buf = [0u8; 64];
        let mut f = frame::encode(&(0u32, 4u16, 7u8), &mut buf)
            .unwrap()
            .to_vec();
        let e = reply_of(&mut f).unwrap_err().to_string();
        assert!(e.contains("speaks fewshot-protocol 4, this host"), "{e}");
        let mut f = frame::encode(&Reply::Done, &mut buf).unwrap().to_vec();
        assert!(matches!(reply_of(&mut f), Ok(Reply::Done)));
        // Asked before any other command: an older device's Info refuses the session.
        let old = frame::encode(&(0u32, 4u16, 7u8), &mut buf)
            .unwrap()
            .to_vec();
        let mut c = Client::new(
            Box::new(Canned(std::io::Cursor::new(old))),
            Duration::from_secs(1),
        );
        let e = c.check_protocol().unwrap_err().to_string();
        assert!(e.contains("speaks fewshot-protocol 4, this host"), "{e}");
    }
}
