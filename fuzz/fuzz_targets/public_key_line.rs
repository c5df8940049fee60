//! Fuzz `portcullis::ops::keys::parse_public_key_line` on arbitrary text.
//!
//! Input layout: byte 0 is the mode.
//! - mode bit 0 clear: the rest of the input (as lossy UTF-8) is the line;
//! - mode bit 0 set: a valid key line (picked by mode bits 1..3) is mutated: the rest of the
//!   input is spliced in at a position taken from its first two bytes, so the fuzzer reaches
//!   the key-blob decoding behind the cheap checks.
//!
//! Invariants:
//! - no panic;
//! - for an accepted line: the comment has no control characters,
//!   `openssh` has no comment and parses again to the same key, algorithm, bits and
//!   fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::ops::keys::parse_public_key_line;

/// Throwaway public keys generated for this target (their private halves were deleted).
const SEEDS: [&str; 4] = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1Qb4wc+kQp2259jQkqqwPL6V85eZryokUwFnlvxbq6 alice@example",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOvdYu55THB4ajEsPs9BrUPhMEvtd0NRL7wz07cDtPBcSDJWYJ3KZ3uj7GSlGNFEjwpelcQKO+PTqVNCKrP0Lf4= bob",
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBACSVFCvLrsCk0NQCyGN7f3iBPctc8Xm8W4M24t7/BcHQBjpeGqlQ+tkl/0HG2YMVLWuDNErRw41hmsHPm68twdreADPrLhQFLlCMD7oSbT/OoU/sckV0sVTN5ewYk4Mxg+VmkPVknWEMEsV22K0Cn108QKoIGj3hyXL5y7sDH2yRzmQug== x y",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCOh6GEX6os4/m5zc26dYDya8cGR+7febs3uE75Ko/MO0aIBlTiveFuvVLSKwecabIali4mw68+yNaYcIY1bPSbOzgG0t5AlIv0DZbIM0MJNuwuTAbCMTXhzagPeaGft8Wd4dRgIgWhvqiLLBAYjL4IZAq/EfiuxfQvYQ/nlMSK/rp5+ipd5TwkQ/baWk5/KjZ2ELqEAPrvHE7PRR/Erx1Gfdg6K7fbF3GdH2Fo//S3mYmoE8IsUpVOweDOjb4ohb62w7/zKt7ifD9wdbvCAvYj4iqI4nFY+6wZ50tVFgpW9HWKE20nmpClJtgBC2MAsRpQIr/QiJb4L545VqpQF+WR",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let line = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let seed = SEEDS[usize::from(mode >> 1) % SEEDS.len()].as_bytes();
        let (at, patch) = match rest {
            [a, b, patch @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), patch),
            _ => (0, &[][..]),
        };
        let at = at % (seed.len() + 1);
        // Mode bit 4: overwrite instead of insert.
        let end = if mode & 0x10 != 0 {
            (at + patch.len()).min(seed.len())
        } else {
            at
        };
        let mut bytes = seed[..at].to_vec();
        bytes.extend_from_slice(patch);
        bytes.extend_from_slice(&seed[end..]);
        String::from_utf8_lossy(&bytes).into_owned()
    };

    if let Ok(key) = parse_public_key_line(&line) {
        assert!(
            !key.comment.chars().any(char::is_control),
            "control character in comment {:?}",
            key.comment
        );
        assert_eq!(
            key.openssh.split_whitespace().count(),
            2,
            "openssh form is not \"algorithm base64\": {:?}",
            key.openssh
        );
        let again = parse_public_key_line(&key.openssh).expect("canonical form re-parses");
        assert_eq!(
            again.key.key_data(),
            key.key.key_data(),
            "canonical form is a different key"
        );
        assert_eq!(again.algorithm, key.algorithm);
        assert_eq!(again.bits, key.bits);
        assert_eq!(again.fingerprint, key.fingerprint);
        assert_eq!(again.openssh, key.openssh);
        assert!(again.comment.is_empty());
    }
});
