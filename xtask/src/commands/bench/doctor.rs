use super::support::Context;

pub async fn bench(_ctx: &Context) -> anyhow::Result<super::Report> {
    anyhow::bail!("todo")
}
