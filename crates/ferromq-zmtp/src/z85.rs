//! Z85 (RFC 32): binary as printable text, 4 bytes to 5 characters. CURVE keys are written in
//! it (40 characters for 32 bytes), as `zmq_z85_encode` and `zmq_z85_decode` do.

/// The 85 characters, in the order of the values they stand for (RFC 32).
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Marks bytes that are not in the alphabet in `DECODE`.
const INVALID: u8 = 0xFF;

/// The value of each ASCII character, or `INVALID`.
const DECODE: [u8; 128] = {
    let mut table = [INVALID; 128];
    let mut value = 0;
    while value < ALPHABET.len() {
        table[ALPHABET[value] as usize] = value as u8;
        value += 1;
    }
    table
};

/// Why a Z85 conversion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    #[error("Z85 encodes whole groups of 4 bytes; {len} bytes is not a multiple of 4")]
    BinaryLength { len: usize },
    #[error("Z85 text comes in whole groups of 5 characters; {len} is not a multiple of 5")]
    TextLength { len: usize },
    #[error("{character:?} at byte {position} is not a Z85 character")]
    BadCharacter { character: char, position: usize },
    #[error("the 5 characters at byte {position} stand for more than 32 bits")]
    Overflow { position: usize },
    #[error("a CURVE key is 32 bytes (40 Z85 characters), not {len} bytes")]
    KeyLength { len: usize },
}

/// Encodes `data`, whose length must be a multiple of 4.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::BinaryLength { len: data.len() });
    }
    let mut text = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut group = [0u8; 5];
        for digit in group.iter_mut().rev() {
            *digit = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        text.extend(group.iter().map(|&b| char::from(b)));
    }
    Ok(text)
}

/// Decodes `text`, made only of the 85 characters, whose length must be a multiple of 5.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let values = text
        .char_indices()
        .map(|(position, character)| {
            u8::try_from(character)
                .ok()
                .and_then(|b| DECODE.get(usize::from(b)))
                .copied()
                .filter(|&v| v != INVALID)
                .ok_or(Z85Error::BadCharacter {
                    character,
                    position,
                })
        })
        .collect::<Result<Vec<u8>, _>>()?;
    // Every character is ASCII now, so bytes and characters count the same.
    if values.len() % 5 != 0 {
        return Err(Z85Error::TextLength { len: values.len() });
    }
    let mut data = Vec::with_capacity(values.len() / 5 * 4);
    for (group, digits) in values.chunks_exact(5).enumerate() {
        let value = digits
            .iter()
            .try_fold(0u32, |acc, &d| {
                acc.checked_mul(85)?.checked_add(u32::from(d))
            })
            .ok_or(Z85Error::Overflow {
                position: group * 5,
            })?;
        data.extend_from_slice(&value.to_be_bytes());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_32_test_case() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn zmq_curve_test_keys() {
        // The client's and server's test key pairs from zmq_curve(7).
        let cases = [
            (
                "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518",
                "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            ),
            (
                "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888",
                "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            ),
            (
                "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652",
                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            ),
            (
                "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7",
                "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
            ),
        ];
        for (hex, z85) in cases {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(encode(&bytes).unwrap(), z85);
            assert_eq!(decode(z85).unwrap(), bytes);
        }
    }

    #[test]
    fn extremes() {
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(encode(&[0; 4]).unwrap(), "00000");
        // 2^32 - 1 is the largest group: "%nSc0" in Z85.
        assert_eq!(encode(&[0xFF; 4]).unwrap(), "%nSc0");
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
    }

    #[test]
    fn binary_length_must_be_a_multiple_of_4() {
        for len in [1, 2, 3, 5, 31] {
            assert_eq!(encode(&vec![0; len]), Err(Z85Error::BinaryLength { len }));
        }
    }

    #[test]
    fn text_length_must_be_a_multiple_of_5() {
        for text in ["0", "0000", "000000", "HelloWorl"] {
            assert_eq!(decode(text), Err(Z85Error::TextLength { len: text.len() }));
        }
    }

    #[test]
    fn characters_outside_the_alphabet_are_named_with_their_position() {
        assert_eq!(
            decode("Hello World"),
            Err(Z85Error::BadCharacter {
                character: ' ',
                position: 5
            })
        );
        for (text, character, position) in [
            ("\"0000", '"', 0),
            ("0000'", '\'', 4),
            ("00,00", ',', 2),
            ("000\\0", '\\', 3),
            ("0000_", '_', 4),
            ("0000`", '`', 4),
            ("0000|", '|', 4),
            ("0000~", '~', 4),
            ("0000;", ';', 4),
            ("0\u{0}000", '\u{0}', 1),
            ("00é00", 'é', 2),
            ("00000\u{7F}", '\u{7F}', 5),
        ] {
            assert_eq!(
                decode(text),
                Err(Z85Error::BadCharacter {
                    character,
                    position
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn groups_over_32_bits_overflow() {
        // "%nSc1" is 2^32, one past the largest group.
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow { position: 0 }));
        assert_eq!(
            decode("HelloWorld#####"),
            Err(Z85Error::Overflow { position: 10 })
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            Z85Error::BadCharacter {
                character: ' ',
                position: 5
            }
            .to_string(),
            "' ' at byte 5 is not a Z85 character"
        );
        assert!(Z85Error::BinaryLength { len: 3 }
            .to_string()
            .contains("3 bytes"));
    }

    proptest! {
        #[test]
        fn round_trips(words in proptest::collection::vec(any::<[u8; 4]>(), 0..64)) {
            let data = words.concat();
            let text = encode(&data).unwrap();
            prop_assert_eq!(text.len(), data.len() / 4 * 5);
            prop_assert!(text.bytes().all(|b| ALPHABET.contains(&b)));
            prop_assert_eq!(decode(&text).unwrap(), data);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            if let Ok(data) = decode(&text) {
                prop_assert_eq!(encode(&data).unwrap(), text);
            }
        }
    }
}
