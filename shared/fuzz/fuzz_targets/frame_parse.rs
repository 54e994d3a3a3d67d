//! `ClientFrame::parse` on arbitrary bytes that are valid UTF-8 (others are skipped).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        chat_shared_fuzz::frame::check(body);
    }
});
