//! The README's configuration reference is each service's own `--help` text, so the two cannot
//! drift: a variable added to a service without the README (or the reverse) fails here.

/// The text of the README's `<details>` block for `service`.
fn readme_block(service: &str) -> String {
    let readme = include_str!("../../../README.md");
    let start = format!("<details><summary><b>{service}</b></summary>\n\n```text\n");
    let from = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README.md has no configuration block for {service}"))
        + start.len();
    let length = readme[from..]
        .find("```")
        .unwrap_or_else(|| panic!("the {service} block is not closed"));
    readme[from..from + length].trim_end().to_owned()
}

/// The part of a help text the README shows: everything before the list of routes.
fn reference(help: &str) -> &str {
    help.split("\nROUTES:").next().unwrap_or(help).trim_end()
}

#[test]
fn the_readme_configuration_reference_is_every_service_s_help_text() {
    for (service, help) in [
        ("order", order::settings::HELP),
        (
            "payment-gateway",
            payment_gateway::settings::ENVIRONMENT_HELP,
        ),
        ("notify-receiver", notify_receiver::settings::HELP),
        ("alipay-sandbox", alipay_sandbox::settings::HELP),
    ] {
        assert_eq!(
            readme_block(service),
            reference(help),
            "README.md's {service} block differs from `{service} --help`"
        );
    }
}
