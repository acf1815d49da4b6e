//! The assistant's providers, behind `storefront_app::ports::LanguageModel`:
//!
//! - `BuiltinModel`: the zero-setup default. Not a language model: it answers the chat
//!   from the catalogue search the application grounded the request in ("these products
//!   match…") and the text utilities with documented methods (extractive summary, rustrict
//!   moderation, VADER sentiment and label matching, templates), deterministic and offline,
//!   streamed word by word.
//! - `OpenAiModel`: the OpenAI-compatible Chat Completions API, streamed (`stream: true`,
//!   `stream_options.include_usage`), which OpenAI, Gemini's OpenAI-compatible endpoint,
//!   Ollama, vLLM and llama.cpp's server all speak.

mod builtin;
mod openai;

pub use builtin::BuiltinModel;
pub use openai::{OpenAiModel, OpenAiSettings};
