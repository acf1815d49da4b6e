//! The utilities' names, shared by the prompts, the cache key and the metrics.

/// The four utilities, as cache keys, prompts and metrics name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisOperation {
    Summarize,
    Moderate,
    Classify,
    Generate,
}

impl AnalysisOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            AnalysisOperation::Summarize => "summarize",
            AnalysisOperation::Moderate => "moderate",
            AnalysisOperation::Classify => "classify",
            AnalysisOperation::Generate => "generate",
        }
    }
}
