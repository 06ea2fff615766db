//! The images the surface application (券面事項確認AP) stores: the name, the
//! address, the security code and the My Number as printed on the card, and
//! the holder's photograph.
//!
//! Real cards store the printed fields as 1-bit greyscale PNGs (the My Number
//! image is 72×12 and the security code 24×12 on the card soltia48/myna-card
//! surveyed) and the photograph as a greyscale JPEG 2000. The simulator makes
//! images of the same kind, small and deterministic:
//!
//! - digits are drawn with a 5×7 dot font, so the My Number and security code
//!   images can be read by eye and have the real cards' sizes (a 6×12 cell per
//!   digit);
//! - other characters of the name and the address are not rendered as glyphs
//!   (that would need a Japanese font): each becomes a symmetric 5×7 pattern
//!   derived from the character, doubled to 10×14 in a 12×16 cell, so the same
//!   text always gives the same picture and different text a different one;
//!   digits, ASCII and full-width, use the dot font there too;
//! - the photograph is one fixed 32×40 greyscale JPEG 2000 for every card
//!   (`assets/photo.jp2`, made once with OpenJPEG's `opj_compress`; see
//!   `assets/README.md`).

use openssl::sha::sha256;

use crate::persona::Persona;
use crate::profile::CardBody;

/// The holder's photograph, JPEG 2000 in a JP2 container, 32×40 greyscale.
pub const PHOTO_JP2: &[u8] = include_bytes!("assets/photo.jp2");

/// Characters per line of the name and address images.
pub const TEXT_COLUMNS: usize = 20;
/// Lines at most in the name and address images; text beyond
/// `TEXT_COLUMNS × TEXT_MAX_LINES` characters is not drawn. Real addresses fit
/// easily, and the cap keeps the card face file far below what READ BINARY's
/// 15-bit offsets can reach.
pub const TEXT_MAX_LINES: usize = 8;
/// Size of one character cell in the name and address images.
const TEXT_CELL: (u32, u32) = (12, 16);
/// Size of one digit cell in the My Number and security code images.
const DIGIT_CELL: (u32, u32) = (6, 12);

/// The name as printed (`DF25` of the card face).
pub fn name_image(persona: &Persona) -> Vec<u8> {
    text_image(&persona.name)
}

/// The address as printed (`DF26` of the card face).
pub fn address_image(persona: &Persona) -> Vec<u8> {
    text_image(&persona.address)
}

/// The My Number as printed on the back of the card (`DF41` of EF `0005`):
/// 72×12 for twelve digits.
pub fn my_number_image(persona: &Persona) -> Vec<u8> {
    digits_image(&persona.my_number)
}

/// The security code as printed (`DF2A` of the card face): 24×12 for four
/// digits.
pub fn security_code_image(body: &CardBody) -> Vec<u8> {
    digits_image(&body.security_code)
}

/// A 5×7 dot font for the digits, one row per byte, the leftmost dot in bit 4.
const DIGITS: [[u8; 7]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
];

/// The 5×7 pattern drawn for `c`, or `None` for a blank cell.
fn glyph(c: char) -> Option<[u8; 7]> {
    if let Some(d) = c.to_digit(10) {
        return Some(DIGITS[d as usize]);
    }
    if ('\u{FF10}'..='\u{FF19}').contains(&c) {
        return Some(DIGITS[(u32::from(c) - 0xFF10) as usize]);
    }
    if c.is_whitespace() {
        return None;
    }
    // Three columns of bits from the character's hash, mirrored to five,
    // like an identicon: symmetric shapes read as "a character".
    let mut buf = [0u8; 4];
    let hash = sha256(c.encode_utf8(&mut buf).as_bytes());
    let mut rows = [0u8; 7];
    for (row, byte) in rows.iter_mut().zip(hash) {
        let (left, middle, inner) = (byte & 1, (byte >> 1) & 1, (byte >> 2) & 1);
        *row = (left << 4) | (inner << 3) | (middle << 2) | (inner << 1) | left;
    }
    if rows.iter().all(|r| *r == 0) {
        rows = [0x04; 7];
    }
    Some(rows)
}

/// A 1-bit picture, `true` where there is ink.
struct Bitmap {
    width: u32,
    height: u32,
    ink: Vec<bool>,
}

impl Bitmap {
    fn new(width: u32, height: u32) -> Bitmap {
        Bitmap {
            width,
            height,
            ink: vec![false; (width * height) as usize],
        }
    }

    /// Draws a 5×7 pattern with its top-left corner at (x, y), each dot
    /// `scale` pixels square.
    fn draw(&mut self, pattern: &[u8; 7], x: u32, y: u32, scale: u32) {
        for (row, bits) in (0u32..).zip(pattern) {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (x + col * scale + dx, y + row * scale + dy);
                        if px < self.width && py < self.height {
                            self.ink[(py * self.width + px) as usize] = true;
                        }
                    }
                }
            }
        }
    }

    /// A 1-bit greyscale PNG: ink black (0), paper white (1), as the card's
    /// images are.
    fn to_png(&self) -> Vec<u8> {
        let stride = self.width.div_ceil(8) as usize;
        let mut packed = vec![0u8; stride * self.height as usize];
        for y in 0..self.height as usize {
            for x in 0..self.width as usize {
                if !self.ink[y * self.width as usize + x] {
                    packed[y * stride + x / 8] |= 0x80 >> (x % 8);
                }
            }
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        // Encoding into memory fails only for a zero-sized image, which the
        // callers never make (every image has at least one cell).
        let mut writer = encoder
            .write_header()
            .expect("PNG header of a non-empty image");
        writer
            .write_image_data(&packed)
            .expect("PNG data of the declared size");
        writer.finish().expect("PNG trailer");
        out
    }
}

/// Text in lines of [`TEXT_COLUMNS`] cells of 12×16, dots doubled.
fn text_image(text: &str) -> Vec<u8> {
    let chars: Vec<char> = text.chars().take(TEXT_COLUMNS * TEXT_MAX_LINES).collect();
    let lines: Vec<&[char]> = chars.chunks(TEXT_COLUMNS).collect();
    let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0).max(1);
    let (cell_w, cell_h) = TEXT_CELL;
    let mut bitmap = Bitmap::new(cell_w * columns as u32, cell_h * lines.len().max(1) as u32);
    for (row, line) in (0u32..).zip(&lines) {
        for (col, c) in (0u32..).zip(line.iter()) {
            if let Some(pattern) = glyph(*c) {
                bitmap.draw(&pattern, col * cell_w + 1, row * cell_h + 1, 2);
            }
        }
    }
    bitmap.to_png()
}

/// Digits on one line, one 6×12 cell each, the dot font at its own size.
/// Anything that is not a digit leaves its cell blank.
fn digits_image(digits: &str) -> Vec<u8> {
    let count = digits.chars().count().max(1) as u32;
    let (cell_w, cell_h) = DIGIT_CELL;
    let mut bitmap = Bitmap::new(cell_w * count, cell_h);
    for (i, c) in (0u32..).zip(digits.chars()) {
        if let Some(d) = c.to_digit(10) {
            bitmap.draw(&DIGITS[d as usize], i * cell_w, 2, 1);
        }
    }
    bitmap.to_png()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::CardProfile;
    use proptest::prelude::*;

    /// Decodes a PNG to (width, height, ink per pixel), checking it is 1-bit
    /// greyscale.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<bool>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.color_type, png::ColorType::Grayscale);
        assert_eq!(frame.bit_depth, png::BitDepth::One);
        let (w, h) = (frame.width, frame.height);
        let mut ink = Vec::new();
        for y in 0..h as usize {
            for x in 0..w as usize {
                ink.push(buf[y * frame.line_size + x / 8] & (0x80 >> (x % 8)) == 0);
            }
        }
        (w, h, ink)
    }

    fn profile() -> CardProfile {
        CardProfile::built_in("default").unwrap()
    }

    #[test]
    fn my_number_image_has_the_real_size_and_readable_digits() {
        let png_bytes = my_number_image(&profile().persona);
        let (w, h, ink) = decode(&png_bytes);
        assert_eq!((w, h), (72, 12));
        // The first digit is 1: its 5×7 dots sit at rows 2..9 of cell 0.
        for (row, bits) in DIGITS[1].iter().enumerate() {
            for col in 0..5 {
                let expected = bits & (0x10 >> col) != 0;
                assert_eq!(ink[(row + 2) * 72 + col], expected, "row {row} col {col}");
            }
        }
        // Rows above and below the digits are blank.
        assert!(ink[..2 * 72].iter().all(|i| !i));
        assert!(ink[9 * 72..].iter().all(|i| !i));
    }

    #[test]
    fn security_code_image_is_24_by_12() {
        let (w, h, ink) = decode(&security_code_image(&profile().body));
        assert_eq!((w, h), (24, 12));
        assert!(ink.iter().any(|i| *i));
    }

    #[test]
    fn name_and_address_images() {
        let persona = profile().persona;
        // 資格　太郎: five cells on one line.
        let (w, h, ink) = decode(&name_image(&persona));
        assert_eq!((w, h), (60, 16));
        // The ideographic space (third cell) is blank, the others are not.
        let cell_has_ink =
            |cell: usize| (0..16).any(|y| (cell * 12..cell * 12 + 12).any(|x| ink[y * 60 + x]));
        assert_eq!(
            (0..5).map(cell_has_ink).collect::<Vec<_>>(),
            [true, true, false, true, true]
        );
        // 東京都千代田区霞が関一丁目２番２号: 17 characters, one line.
        let (w, h, _) = decode(&address_image(&persona));
        assert_eq!((w, h), (17 * 12, 16));
    }

    #[test]
    fn long_text_wraps_and_is_capped() {
        let (w, h, _) = decode(&text_image(&"あ".repeat(45)));
        assert_eq!((w, h), (240, 48));
        let (w, h, _) = decode(&text_image(&"あ".repeat(1000)));
        assert_eq!((w, h), (240, 16 * TEXT_MAX_LINES as u32));
        let (w, h, _) = decode(&text_image(""));
        assert_eq!((w, h), (12, 16));
    }

    #[test]
    fn full_width_digits_use_the_font() {
        assert_eq!(glyph('２'), Some(DIGITS[2]));
        assert_eq!(glyph('2'), Some(DIGITS[2]));
        assert_eq!(glyph('\u{3000}'), None);
        assert!(glyph('資').is_some());
        assert_ne!(glyph('資'), glyph('格'));
    }

    #[test]
    fn images_are_small_and_deterministic() {
        let p = profile();
        for image in [
            name_image(&p.persona),
            address_image(&p.persona),
            my_number_image(&p.persona),
            security_code_image(&p.body),
        ] {
            assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert!(image.len() < 4096, "{} bytes", image.len());
        }
        assert_eq!(name_image(&p.persona), name_image(&p.persona));
        assert_eq!(address_image(&p.persona), address_image(&p.persona));
        let mut other = p.persona.clone();
        other.name = "資格\u{3000}花子".into();
        assert_ne!(name_image(&p.persona), name_image(&other));
    }

    #[test]
    fn the_photo_is_a_jp2_file() {
        // JPEG 2000 signature box, then the file type box naming `jp2 `.
        assert_eq!(
            &PHOTO_JP2[..12],
            [
                0x00, 0x00, 0x00, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A
            ]
        );
        assert_eq!(&PHOTO_JP2[16..24], b"ftypjp2 ");
        // The image header box (ihdr) gives height 40, width 32, one component.
        let ihdr = PHOTO_JP2.windows(4).position(|w| w == b"ihdr").unwrap();
        let field = |at: usize| u32::from_be_bytes(PHOTO_JP2[at..at + 4].try_into().unwrap());
        assert_eq!((field(ihdr + 4), field(ihdr + 8)), (40, 32));
        assert_eq!(&PHOTO_JP2[ihdr + 12..ihdr + 14], [0x00, 0x01]);
    }

    proptest! {
        #[test]
        fn any_text_makes_a_valid_png(text in "\\PC{0,80}") {
            let (w, h, _) = decode(&text_image(&text));
            let n = text.chars().count().clamp(1, TEXT_COLUMNS * TEXT_MAX_LINES);
            prop_assert_eq!(w as usize, 12 * n.min(TEXT_COLUMNS));
            prop_assert_eq!(h as usize, 16 * n.div_ceil(TEXT_COLUMNS));
        }
    }
}
