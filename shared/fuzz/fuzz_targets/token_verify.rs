//! `TokenVerifier::verify` (HS256) on arbitrary bytes that are valid UTF-8: never panics, never accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        chat_shared_fuzz::token::check_verify(token);
    }
});
