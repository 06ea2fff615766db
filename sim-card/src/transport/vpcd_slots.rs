//! Which vpcd slots a machine has: the ports a card connects to and the
//! reader names pcscd gives them, read from pcscd's reader configuration.
//!
//! Debian's vpcd driver is one reader entry in `/etc/reader.conf.d/vpcd`
//! (`DEVICENAME /dev/null:0x8C7B`) that opens two slots, listening on the
//! entry's port and the next one (35963, 35964), which pcscd names
//! `Virtual PCD 00 00` and `Virtual PCD 00 01`. A machine can have more: each
//! further reader entry of the driver, under its own `FRIENDLYNAME` and on
//! its own port, adds that many slots again (`.ci/setup` adds three, see
//! there why each loads its own copy of the driver). A scenario runner that
//! knows every slot can put a card into each at once.
//!
//! This module only reads text ([`parse_reader_conf`]) and matches names
//! ([`slots_among`]); which readers pcscd actually lists is the caller's to
//! ask. Entries in "reversed mode" (a `DEVICENAME` naming a host: vpcd
//! connects out to a card that listens) are no slots a card can connect to,
//! and are left out.

use std::path::Path;

use super::vpcd::VPCD_PORT;

/// The friendly name of Debian's vpcd entry.
pub const DEBIAN_FRIENDLY_NAME: &str = "Virtual PCD";

/// Where pcscd reads its reader entries: every file of the directory, then
/// the single file older systems have.
pub const READER_CONF_DIR: &str = "/etc/reader.conf.d";
pub const READER_CONF_FILE: &str = "/etc/reader.conf";

/// One reader entry of the vpcd driver, waiting for cards on `port` (its
/// first slot) and the ports after it (its other slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdEntry {
    /// `FRIENDLYNAME`: pcscd names the entry's slots `"<name> 00 00"`,
    /// `"<name> 00 01"`, …
    pub friendly_name: String,
    /// The port of the entry's first slot.
    pub port: u16,
}

/// One slot a card can be put into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdSlot {
    /// The reader name pcscd lists for it.
    pub reader: String,
    /// The port vpcd listens on for its card.
    pub port: u16,
}

impl VpcdSlot {
    /// Slot `n` of Debian's default entry: `Virtual PCD 00 0n` on 35963 + n.
    pub fn debian_default(n: u8) -> VpcdSlot {
        VpcdSlot {
            reader: format!("{DEBIAN_FRIENDLY_NAME} 00 {n:02X}"),
            port: VPCD_PORT + u16::from(n),
        }
    }

    /// `127.0.0.1:<port>`, what the link connects to.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The vpcd entries of a reader configuration (pcscd's `reader.conf`
/// syntax: `KEY value` lines, `#` comments; an entry is complete once it has
/// its `FRIENDLYNAME`, `DEVICENAME`, `LIBPATH` and `CHANNELID`). An entry is
/// vpcd's when its `LIBPATH` names a file whose name contains `ifdvpcd`.
pub fn parse_reader_conf(text: &str) -> Vec<VpcdEntry> {
    #[derive(Default)]
    struct Partial {
        friendly_name: Option<String>,
        device: Option<String>,
        library: Option<String>,
        channel: Option<String>,
    }
    let mut entries = Vec::new();
    let mut partial = Partial::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        let field = match key {
            "FRIENDLYNAME" => &mut partial.friendly_name,
            "DEVICENAME" => &mut partial.device,
            "LIBPATH" => &mut partial.library,
            "CHANNELID" => &mut partial.channel,
            _ => continue,
        };
        *field = Some(value.to_owned());
        let complete = partial.friendly_name.is_some()
            && partial.device.is_some()
            && partial.library.is_some()
            && partial.channel.is_some();
        if !complete {
            continue;
        }
        let Partial {
            friendly_name,
            device,
            library,
            ..
        } = std::mem::take(&mut partial);
        let (name, device, library) = (
            friendly_name.unwrap_or_default(),
            device.unwrap_or_default(),
            library.unwrap_or_default(),
        );
        let is_vpcd = Path::new(&library)
            .file_name()
            .is_some_and(|f| f.to_string_lossy().contains("ifdvpcd"));
        if let (true, Some(port)) = (is_vpcd, listening_port(&device)) {
            entries.push(VpcdEntry {
                friendly_name: name,
                port,
            });
        }
    }
    entries
}

/// The port of a vpcd `DEVICENAME` in server mode (`/dev/null:PORT`, the
/// port as C's `strtoul(…, 0)` reads it: `0x` hex, a leading `0` octal,
/// else decimal; no port is vpcd's default). `None` for reversed mode.
fn listening_port(device: &str) -> Option<u16> {
    let Some((host, port)) = device.split_once(':') else {
        return Some(VPCD_PORT);
    };
    if host != "/dev/null" {
        return None;
    }
    let port = port.trim();
    let parsed = if let Some(hex) = port.strip_prefix("0x").or_else(|| port.strip_prefix("0X")) {
        u16::from_str_radix(hex, 16)
    } else if port.len() > 1 && port.starts_with('0') {
        u16::from_str_radix(&port[1..], 8)
    } else {
        port.parse()
    };
    parsed.ok()
}

/// The vpcd entries of this machine's pcscd configuration, in file order
/// (`/etc/reader.conf.d/*` sorted by name, then `/etc/reader.conf`).
/// Unreadable files are skipped: a missing configuration is no entry.
pub fn configured_entries() -> Vec<VpcdEntry> {
    let mut files: Vec<_> = std::fs::read_dir(READER_CONF_DIR)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.push(READER_CONF_FILE.into());
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| parse_reader_conf(&text))
        .collect()
}

/// The slots of `entries` among the readers pcscd lists, sorted by port.
///
/// pcscd names an entry's slot `n` `"<FRIENDLYNAME> XX NN"` (`XX` counts
/// readers of the same driver, `NN` the slot, both two hex digits), and
/// vpcd listens for that slot on the entry's port + `n`. A reader whose name
/// is an entry's friendly name followed by exactly those two numbers is that
/// slot; the rest (other readers, other drivers) are not slots.
pub fn slots_among<S: AsRef<str>>(entries: &[VpcdEntry], readers: &[S]) -> Vec<VpcdSlot> {
    let mut slots: Vec<VpcdSlot> = readers
        .iter()
        .filter_map(|reader| {
            let reader = reader.as_ref();
            entries.iter().find_map(|entry| {
                let rest = reader.strip_prefix(entry.friendly_name.as_str())?;
                let mut numbers = rest.strip_prefix(' ')?.split(' ');
                let (Some(index), Some(slot), None) =
                    (numbers.next(), numbers.next(), numbers.next())
                else {
                    return None;
                };
                let two_hex = |s: &str| s.len() == 2 && s.chars().all(|c| c.is_ascii_hexdigit());
                if !two_hex(index) || !two_hex(slot) {
                    return None;
                }
                let slot = u16::from_str_radix(slot, 16).ok()?;
                Some(VpcdSlot {
                    reader: reader.to_owned(),
                    port: entry.port.checked_add(slot)?,
                })
            })
        })
        .collect();
    slots.sort_by_key(|slot| slot.port);
    slots.dedup_by_key(|slot| slot.port);
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = r#"FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
"#;

    #[test]
    fn debians_entry_is_one_vpcd_entry_on_35963() {
        assert_eq!(
            parse_reader_conf(DEBIAN),
            vec![VpcdEntry {
                friendly_name: "Virtual PCD".into(),
                port: 35963
            }]
        );
    }

    #[test]
    fn several_entries_comments_and_other_drivers() {
        let text = r#"
# a serial reader
FRIENDLYNAME      "GemPC Twin serial"
DEVICENAME        /dev/ttyS0
LIBPATH           /usr/lib/pcsc/drivers/serial/libccidtwin.so
CHANNELID         1

FRIENDLYNAME "Virtual PCD 2" # the second
DEVICENAME   /dev/null:35965
LIBPATH      /usr/local/lib/kazasu/libifdvpcd-2.so
CHANNELID    35965

FRIENDLYNAME 'Virtual PCD 3'
DEVICENAME   /dev/null:0105577
LIBPATH      /usr/local/lib/kazasu/libifdvpcd-3.so
CHANNELID    35967

FRIENDLYNAME "Remote PCD"
DEVICENAME   192.168.0.4:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
"#;
        let entries = parse_reader_conf(text);
        assert_eq!(
            entries,
            vec![
                VpcdEntry {
                    friendly_name: "Virtual PCD 2".into(),
                    port: 35965
                },
                // 0105577 is octal for 35711, as strtoul reads it.
                VpcdEntry {
                    friendly_name: "Virtual PCD 3".into(),
                    port: 0o105577
                },
            ]
        );
    }

    #[test]
    fn a_device_without_a_port_is_vpcds_default() {
        let text = DEBIAN.replace("/dev/null:0x8C7B", "/dev/null");
        assert_eq!(parse_reader_conf(&text)[0].port, VPCD_PORT);
    }

    #[test]
    fn slots_are_the_listed_readers_of_the_entries() {
        let mut entries = parse_reader_conf(DEBIAN);
        entries.push(VpcdEntry {
            friendly_name: "Virtual PCD 2".into(),
            port: 35965,
        });
        let readers = [
            "Virtual PCD 2 00 01",
            "Virtual PCD 00 00",
            "Virtual PCD 2 00 00",
            "Virtual PCD 00 01",
            "Gemalto PC Twin Reader 00 00",
            "Virtual PCD extra 00 00",
            "Virtual PCD 00",
        ];
        let slots = slots_among(&entries, &readers);
        assert_eq!(
            slots,
            vec![
                VpcdSlot::debian_default(0),
                VpcdSlot::debian_default(1),
                VpcdSlot {
                    reader: "Virtual PCD 2 00 00".into(),
                    port: 35965
                },
                VpcdSlot {
                    reader: "Virtual PCD 2 00 01".into(),
                    port: 35966
                },
            ]
        );
        assert_eq!(slots[2].addr(), "127.0.0.1:35965");
    }

    #[test]
    fn no_entry_no_slot() {
        assert!(slots_among(&[], &["Virtual PCD 00 00"]).is_empty());
    }
}
