//! Which requests a route takes: a path prefix, a path template, methods.

use http::Method;

/// Path and method conditions of a route; every given condition must hold.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    prefix: Option<String>,
    /// Template segments; `None` is a `{placeholder}` matching any one non-empty segment.
    template: Option<Vec<Option<String>>>,
    methods: Vec<Method>,
}

impl Matcher {
    pub fn new(prefix: Option<&str>, template: Option<&str>, methods: &[Method]) -> Self {
        let template = template.map(|t| {
            segments(t)
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        None
                    } else {
                        Some(s.to_string())
                    }
                })
                .collect()
        });
        Self {
            prefix: prefix.map(str::to_string),
            template,
            methods: methods.to_vec(),
        }
    }

    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return false;
        }
        if let Some(p) = &self.prefix {
            if !path.starts_with(p.as_str()) {
                return false;
            }
        }
        match &self.template {
            None => true,
            Some(t) => {
                let mut got = segments(path);
                t.iter().all(|want| match (want, got.next()) {
                    (_, None) => false,
                    (None, Some(s)) => !s.is_empty(),
                    (Some(w), Some(s)) => w == s,
                }) && got.next().is_none()
            }
        }
    }
}

fn segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments_only() {
        let m = Matcher::new(None, Some("/orders/{id}"), &[]);
        assert!(m.matches(&Method::GET, "/orders/42"));
        assert!(!m.matches(&Method::GET, "/orders/"));
        assert!(!m.matches(&Method::GET, "/orders/42/items"));
        assert!(!m.matches(&Method::GET, "/orders"));
        assert!(!m.matches(&Method::GET, "/order/42"));
    }

    #[test]
    fn prefix_and_methods_both_must_hold() {
        let m = Matcher::new(Some("/api/"), None, &[Method::GET]);
        assert!(m.matches(&Method::GET, "/api/x"));
        assert!(!m.matches(&Method::POST, "/api/x"));
        assert!(!m.matches(&Method::GET, "/apix"));
    }
}
