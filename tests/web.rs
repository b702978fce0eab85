//! The wasm bridge in a real browser (headless Chromium via `wasm-pack test`): the
//! `HyphaServer` class as JavaScript sees it — options, frames in and out, events, tokens,
//! re-entrant calls from handlers, and the `setTimeout` timer — and `parsePlugin`.
// Runs with both browser modules: `--features plugin-bridge` (scripts/test.sh).
#![cfg(all(
    target_arch = "wasm32",
    feature = "server-bridge",
    feature = "plugin-bridge"
))]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use hypha_core::wire::Envelope;
use hypha_core::{is_plugin_source, parse_plugin, HyphaServer};
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use rmpv::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Default)]
struct Outbox {
    frames: Vec<(u64, JsValue)>,
    events: Vec<JsValue>,
}

fn options(extra: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    let set = |k: &str, v: JsValue| {
        Reflect::set(&o, &k.into(), &v).unwrap();
    };
    set("publicBaseUrl", "https://local-hypha-server:8080".into());
    set("jwtSecret", "web-test-secret".into());
    set("seed", 5.into());
    for (k, v) in extra {
        set(k, v.clone());
    }
    o.into()
}

fn server_with_outbox(extra: &[(&str, JsValue)]) -> (HyphaServer, Rc<RefCell<Outbox>>) {
    let server = HyphaServer::new(options(extra)).expect("server");
    let outbox = Rc::new(RefCell::new(Outbox::default()));
    let (a, b) = (outbox.clone(), outbox.clone());
    let on_transmit = Closure::<dyn Fn(f64, JsValue)>::new(move |conn: f64, data: JsValue| {
        a.borrow_mut().frames.push((conn as u64, data));
    });
    let on_event = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        b.borrow_mut().events.push(event);
    });
    server.set_handlers(
        on_transmit.into_js_value().unchecked_into::<Function>(),
        on_event.into_js_value().unchecked_into::<Function>(),
    );
    (server, outbox)
}

fn hello(client_id: &str, workspace: Option<&str>, token: Option<&str>) -> String {
    let ws = workspace.map_or_else(|| "null".to_owned(), |w| format!("{w:?}"));
    let token = token.map_or_else(|| "null".to_owned(), |t| format!("{t:?}"));
    format!(
        r#"{{"client_id":"{client_id}","workspace":{ws},"token":{token},"reconnection_token":null}}"#
    )
}

fn text_frames(outbox: &Rc<RefCell<Outbox>>, conn: u64) -> Vec<serde_json::Value> {
    outbox
        .borrow()
        .frames
        .iter()
        .filter(|(c, d)| *c == conn && d.is_string())
        .map(|(_, d)| serde_json::from_str(&d.as_string().unwrap()).unwrap())
        .collect()
}

fn binary_frames(outbox: &Rc<RefCell<Outbox>>, conn: u64) -> Vec<Envelope> {
    outbox
        .borrow()
        .frames
        .iter()
        .filter(|(c, d)| *c == conn && d.is_instance_of::<Uint8Array>())
        .map(|(_, d)| Envelope::decode(Uint8Array::from(d.clone()).to_vec()).unwrap())
        .collect()
}

fn code_of(error: &JsValue) -> String {
    Reflect::get(error, &"code".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

fn manager_call(to_manager: &str, method: &str, session: &str, args: Vec<Value>) -> Uint8Array {
    let main = vec![
        ("type".to_owned(), "method".into()),
        ("to".to_owned(), to_manager.into()),
        ("method".to_owned(), method.into()),
        ("session".to_owned(), session.into()),
    ];
    let extra = Value::Map(vec![
        ("args".into(), Value::Array(args)),
        ("promise".into(), "*".into()),
        ("t".into(), 15.into()),
    ]);
    Uint8Array::from(Envelope::new(main, Some(&extra)).encode().as_slice())
}

#[wasm_bindgen_test]
fn missing_options_throw_errors_with_a_code() {
    let err = HyphaServer::new(Object::new().into())
        .err()
        .expect("refused");
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(code_of(&err), "INVALID_OPTION");
    let err = HyphaServer::new(options(&[("jwtSecret", "".into())]))
        .err()
        .expect("refused");
    assert_eq!(code_of(&err), "INVALID_OPTION");
}

#[wasm_bindgen_test]
fn a_connection_gets_connection_info_and_the_host_hears_about_it() {
    let (server, outbox) = server_with_outbox(&[]);
    let conn = server.connect(&hello("c1", None, None)) as u64;
    let texts = text_frames(&outbox, conn);
    assert_eq!(texts[0]["type"], "connection_info");
    assert_eq!(texts[0]["manager_id"], "workspace-manager");
    assert_eq!(
        texts[0]["public_base_url"],
        "https://local-hypha-server:8080"
    );
    let events = &outbox.borrow().events;
    let kind = Reflect::get(&events[0], &"type".into()).unwrap();
    assert_eq!(kind.as_string().as_deref(), Some("client_connected"));
    assert_eq!(server.connection_count(), 1);
    assert_eq!(
        server.client_of(conn as f64).unwrap(),
        format!("{}/c1", texts[0]["workspace"].as_str().unwrap())
    );
}

#[wasm_bindgen_test]
fn binary_frames_round_trip_through_the_manager() {
    let (server, outbox) = server_with_outbox(&[]);
    let conn = server.connect(&hello("c1", None, None));
    let frame = manager_call(
        "*/workspace-manager",
        "services.built-in.get_service",
        "s1",
        vec!["default".into()],
    );
    server.message(conn, frame.into()).expect("accepted");
    let replies = binary_frames(&outbox, conn as u64);
    let reply = replies
        .iter()
        .find(|e| e.str("method") == Some("s1.resolve"))
        .expect("resolved");
    assert_eq!(reply.str("from"), Some("*/workspace-manager"));
    // ArrayBuffer input is accepted too.
    let frame = manager_call(
        "*/workspace-manager",
        "services.default.echo",
        "s2",
        vec!["hi".into()],
    );
    server
        .message(conn, frame.buffer().into())
        .expect("accepted");
    assert!(binary_frames(&outbox, conn as u64)
        .iter()
        .any(|e| e.str("method") == Some("s2.resolve")));
}

#[wasm_bindgen_test]
fn a_non_frame_is_refused_with_a_code() {
    let (server, _) = server_with_outbox(&[]);
    let conn = server.connect(&hello("c1", None, None));
    let err = server.message(conn, JsValue::from(42)).unwrap_err();
    assert_eq!(code_of(&err), "INVALID_FRAME");
}

#[wasm_bindgen_test]
fn mounted_client_tokens_verify_and_tampered_ones_do_not() {
    let (server, outbox) = server_with_outbox(&[]);
    let options = Object::new();
    Reflect::set(&options, &"workspace".into(), &"lab".into()).unwrap();
    Reflect::set(&options, &"client_id".into(), &"c3".into()).unwrap();
    Reflect::set(&options, &"user_id".into(), &"alice".into()).unwrap();
    let token = server.mount_token(options.into()).expect("token");
    let verified = server.verify_token(&token).expect("verifies");
    assert_eq!(
        Reflect::get(&verified, &"sub".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("alice")
    );

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].replace('a', "b");
    let forged = parts.join(".");
    assert_eq!(
        code_of(&server.verify_token(&forged).unwrap_err()),
        "INVALID_TOKEN"
    );
    // The Router refuses it at connect, too.
    let conn = server.connect(&hello("c3", Some("lab"), Some(&forged))) as u64;
    assert_eq!(text_frames(&outbox, conn)[0]["type"], "error");
    let good = server.connect(&hello("c3", Some("lab"), Some(&token))) as u64;
    assert_eq!(text_frames(&outbox, good)[0]["type"], "connection_info");
}

#[wasm_bindgen_test]
fn handlers_may_call_back_into_the_server() {
    // A handler that answers every frame with a ping: re-entry must not hit a held borrow.
    let server = Rc::new(HyphaServer::new(options(&[])).expect("server"));
    let pongs = Rc::new(RefCell::new(0u32));
    let (inner, count) = (Rc::downgrade(&server), pongs.clone());
    let on_transmit = Closure::<dyn Fn(f64, JsValue)>::new(move |conn: f64, data: JsValue| {
        let Some(text) = data.as_string() else { return };
        if text.contains("connection_info") {
            if let Some(server) = inner.upgrade() {
                server.message(conn, r#"{"type":"ping"}"#.into()).unwrap();
            }
        } else if text.contains("pong") {
            *count.borrow_mut() += 1;
        }
    });
    let on_event = Closure::<dyn Fn(JsValue)>::new(|_event: JsValue| {});
    server.set_handlers(
        on_transmit.into_js_value().unchecked_into(),
        on_event.into_js_value().unchecked_into(),
    );
    server.connect(&hello("c1", None, None));
    assert_eq!(*pongs.borrow(), 1);
}

#[wasm_bindgen_test]
async fn the_timer_rejects_a_question_the_host_never_answers() {
    let host = Object::new();
    Reflect::set(&host, &"workspace".into(), &"default".into()).unwrap();
    Reflect::set(&host, &"clientId".into(), &"root".into()).unwrap();
    Reflect::set(&host, &"service".into(), &"host".into()).unwrap();
    Reflect::set(
        &host,
        &"methods".into(),
        &Array::of1(&"create_window".into()),
    )
    .unwrap();
    let (server, outbox) =
        server_with_outbox(&[("host", host.into()), ("callTimeoutMs", 50.into())]);
    assert!(server.host_call_context().is_null(), "no root client yet");
    let root = server.connect(&hello("root", Some("default"), Some(&server.root_token())));
    // Root's own host calls get the core's context: it sees every workspace.
    let context = server.host_call_context();
    assert_eq!(
        Reflect::get(&context, &"visible_workspaces".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("*")
    );
    let caller = server.connect(&hello("c1", None, None));
    let frame = manager_call(
        "*/workspace-manager",
        "services.default.create_window",
        "s1",
        vec![],
    );
    server.message(caller, frame.into()).unwrap();
    // The host (root) was asked; it stays silent.
    assert!(binary_frames(&outbox, root as u64)
        .iter()
        .any(|e| e.str("method") == Some("services.host.dispatch")));
    assert!(!binary_frames(&outbox, caller as u64)
        .iter()
        .any(|e| e.str("method") == Some("s1.reject")));
    TimeoutFuture::new(200).await;
    let rejected = binary_frames(&outbox, caller as u64);
    assert!(
        rejected
            .iter()
            .any(|e| e.str("method") == Some("s1.reject")),
        "no rejection after the timeout"
    );
}

const WINDOW_PLUGIN: &str = r#"
<config lang="json">
  {"name": "Web Plugin", "type": "window", "tags": ["a", "b"], "requirements": {"a": ["x.js"]}}
</config>
<script lang="javascript">
  api.export({setup() {}});
</script>
<script tag="b">b()</script>
<window><p>hi</p></window>
"#;

fn get(object: &JsValue, path: &[&str]) -> JsValue {
    path.iter().fold(object.clone(), |value, key| {
        let key: JsValue = match key.parse::<u32>() {
            Ok(index) => index.into(),
            Err(_) => (*key).into(),
        };
        Reflect::get(&value, &key).unwrap()
    })
}

#[wasm_bindgen_test]
fn parse_plugin_returns_a_plain_object() {
    let plugin = parse_plugin(WINDOW_PLUGIN, None).expect("parses");
    assert_eq!(
        get(&plugin, &["name"]).as_string().as_deref(),
        Some("Web Plugin")
    );
    assert_eq!(
        get(&plugin, &["_id"]).as_string().as_deref(),
        Some("Web_Plugin")
    );
    assert_eq!(get(&plugin, &["tag"]).as_string().as_deref(), Some("a"));
    // The tag-b script is left out; the untagged one stays, with the fields hypha-rpc reads.
    let scripts = get(&plugin, &["scripts"]);
    assert!(Array::is_array(&scripts));
    assert_eq!(Array::from(&scripts).length(), 1);
    assert_eq!(
        get(&scripts, &["0", "lang"]).as_string().as_deref(),
        Some("javascript")
    );
    assert_eq!(
        get(&scripts, &["0", "content"]).as_string().as_deref(),
        Some("\napi.export({setup() {}});\n")
    );
    assert_eq!(
        get(&plugin, &["windows", "0", "content"])
            .as_string()
            .as_deref(),
        Some("<p>hi</p>")
    );
    assert!(get(&plugin, &["styles"]).is_null());
    assert_eq!(
        get(&plugin, &["requirements", "0"]).as_string().as_deref(),
        Some("x.js")
    );
    assert_eq!(get(&plugin, &["runnable"]).as_bool(), Some(true));

    let tagged = parse_plugin(WINDOW_PLUGIN, Some("b".into())).expect("parses");
    assert_eq!(Array::from(&get(&tagged, &["scripts"])).length(), 2);
    assert!(Array::from(&get(&tagged, &["requirements"])).length() == 0);
}

#[wasm_bindgen_test]
fn a_bad_plugin_throws_invalid_plugin() {
    let err = parse_plugin(
        "<config lang=\"json\">\n{\"name\": }\n</config><script></script>",
        None,
    )
    .unwrap_err();
    assert_eq!(code_of(&err), "INVALID_PLUGIN");
    let message = get(&err, &["message"]).as_string().unwrap();
    assert!(
        message.starts_with("<config> block: invalid JSON at line 2"),
        "{message}"
    );

    let err = parse_plugin("<script>x()</script>", None).unwrap_err();
    assert_eq!(code_of(&err), "INVALID_PLUGIN");
    assert!(err.is_instance_of::<js_sys::Error>());

    assert!(is_plugin_source(WINDOW_PLUGIN));
    assert!(!is_plugin_source("<html><body><p>hi</p></body></html>"));
}
