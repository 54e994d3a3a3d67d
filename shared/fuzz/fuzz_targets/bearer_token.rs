//! `bearer_token` on arbitrary bytes that are valid UTF-8, and `verify` on what it extracts.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        chat_shared_fuzz::token::check_bearer(header);
    }
});
