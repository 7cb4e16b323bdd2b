//! GPT-2's byte-to-character map: the byte-level form of a piece spells each of its UTF-8 bytes
//! as one printable character (`Ġ` for a space, `Ċ` for a newline, …), as the `ByteLevel`
//! pre-tokenizer does before the model sees the piece.

/// The character for each byte: printable Latin-1 bytes stand for themselves, the others get
/// U+0100 onwards in byte order.
pub(crate) const BYTE_CHARS: [char; 256] = byte_chars();

const fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        table[b] = match char::from_u32(code) {
            Some(c) => c,
            None => panic!("byte-level characters are below U+0144"),
        };
        b += 1;
    }
    table
}

/// Writes the byte-level form of `piece` into `out` (cleared first).
pub(crate) fn byte_level(piece: &str, out: &mut String) {
    out.clear();
    out.extend(piece.bytes().map(|b| BYTE_CHARS[b as usize]));
}
