//! `ClientFrame::parse` on JSON objects built from the input (known actions and field names,
//! arbitrary values), so the fuzzer spends its time past the JSON parser.

#![no_main]

use chat_shared_fuzz::frame::JsonFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: JsonFrame| {
    chat_shared_fuzz::frame::check(&frame.0);
});
