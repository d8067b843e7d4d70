//! Fuzz the protocol decoder: no input may panic it, and whatever decodes must survive a
//! round trip through the encoder unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strangers_shared::{ClientMsg, decode_client, decode_server, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = decode_server(text);
    if let Ok(msg) = decode_client(text) {
        // Candidates are limited by their frame's length, which re-encoding may change.
        if !matches!(msg, ClientMsg::Candidate(_)) {
            let again = decode_client(&encode(&msg));
            assert_eq!(again.as_ref(), Ok(&msg), "round trip changed {text:?}");
        }
    }
});
