//! `mapio::log::format::Header::decode` on arbitrary bytes, raw and with
//! the magic, version, `header_len` and CRC fixed up (so that the schema
//! table behind the checksum is reached).
//!
//! Never panics; on success the header encodes to a 4096-byte page that
//! decodes to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapio::log::format::{self, HEADER_LEN, Header};

fn check(page: &[u8]) {
    if let Ok(h) = Header::decode(page) {
        assert_eq!(h.version, format::VERSION);
        assert!(h.schema.fields().len() <= format::MAX_FIELDS);
        for f in h.schema.fields() {
            assert!(f.offset as u64 + f.len() as u64 <= h.schema.payload_len() as u64);
        }
        let enc = h.encode();
        assert_eq!(enc.len(), HEADER_LEN as usize);
        let again = Header::decode(&enc).expect("an encoded header does not decode");
        assert_eq!(again, h, "header does not survive encode/decode");
    }
}

fn crc(page: &[u8]) -> u32 {
    let c = crc32c::crc32c(&page[..format::IMMUTABLE_END]);
    crc32c::crc32c_append(c, &page[format::OFF_FIELDS..format::OFF_HEADER_CRC])
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Fixed up: a valid frame around the fuzz bytes. Byte 0 chooses; bytes
    // 1..17 become `created_ns`, `field_count` and `payload_len`; the rest
    // becomes the schema table at offset 512.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut page = vec![0u8; HEADER_LEN as usize];
    page[..8].copy_from_slice(&format::MAGIC);
    page[format::OFF_VERSION..format::OFF_VERSION + 4]
        .copy_from_slice(&format::VERSION.to_le_bytes());
    page[format::OFF_HEADER_LEN..format::OFF_HEADER_LEN + 4]
        .copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    let fixed = &rest[..rest.len().min(16)];
    page[16..16 + fixed.len()].copy_from_slice(fixed);
    let table = &rest[fixed.len()..];
    let n = table.len().min(format::OFF_HEADER_CRC - format::OFF_FIELDS);
    page[format::OFF_FIELDS..format::OFF_FIELDS + n].copy_from_slice(&table[..n]);
    // Keep the field count small most of the time, so entries are parsed.
    if mode & 1 == 0 {
        let at = format::OFF_FIELD_COUNT;
        let c = u32::from_le_bytes(page[at..at + 4].try_into().unwrap());
        let c = c % (format::MAX_FIELDS as u32 + 2);
        page[at..at + 4].copy_from_slice(&c.to_le_bytes());
    }
    if mode & 2 == 0 {
        // A large payload, so that fields fit more often.
        let at = format::OFF_PAYLOAD_LEN;
        page[at + 3] = 0x10;
    }
    let c = crc(&page);
    page[format::OFF_HEADER_CRC..format::OFF_HEADER_CRC + 4].copy_from_slice(&c.to_le_bytes());
    check(&page);
});
