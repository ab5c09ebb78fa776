//! placeholder
use anyhow::Result;
pub fn run(_args: &crate::cli::CrawlArgs) -> Result<()> {
    anyhow::bail!("not yet")
}
