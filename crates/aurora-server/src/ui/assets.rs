//! Static files compiled into the binary, served under `/static/<content hash>/<file>`.

use std::hash::Hasher;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    file: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 8] = [
    Asset {
        file: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/app.css"),
    },
    Asset {
        file: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset {
        file: "chat.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/chat.js"),
    },
    Asset {
        file: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/favicon.svg"),
    },
    Asset {
        file: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx.min.js"),
    },
    Asset {
        file: "htmx-ext-sse.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx-ext-sse.min.js"),
    },
    Asset {
        file: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/uPlot.iife.min.js"),
    },
    Asset {
        file: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/uPlot.min.css"),
    },
];

/// Where the templates find the assets.
#[derive(Debug)]
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub htmx: String,
    /// htmx's server-sent events extension.
    pub sse: String,
    pub icon: String,
    /// uPlot, for the charts of returned series (the incident page only).
    pub uplot_js: String,
    pub uplot_css: String,
    /// The Chat page's WebSocket client.
    pub chat_js: String,
}

static VERSION: LazyLock<String> = LazyLock::new(|| {
    // FNV-1a over every asset: changes whenever any asset does.
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    for asset in &ASSETS {
        hash.write(asset.bytes);
    }
    format!("{:012x}", hash.finish() & 0xffff_ffff_ffff)
});

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| {
    let url = |file: &str| format!("/static/{}/{file}", *VERSION);
    AssetUrls {
        css: url("app.css"),
        js: url("app.js"),
        htmx: url("htmx.min.js"),
        sse: url("htmx-ext-sse.min.js"),
        icon: url("favicon.svg"),
        uplot_js: url("uPlot.iife.min.js"),
        uplot_css: url("uPlot.min.css"),
        chat_js: url("chat.js"),
    }
});

pub fn urls() -> &'static AssetUrls {
    &URLS
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.file == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // A stale version still gets the file, but must not be cached as if it were that version.
    let cache = if version == *VERSION {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.bytes,
    )
        .into_response()
}
