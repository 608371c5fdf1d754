//! Configuration: the preset round-trips through TOML; bad values name file, line and field.

use trainer::config::Config;

#[test]
fn preset_round_trips_through_toml() {
    let preset = Config::preset("sinusoid").unwrap();
    let text = toml::to_string(&preset).unwrap();
    assert_eq!(Config::parse(&text, "p.toml").unwrap(), preset);
    assert!(Config::preset("nope").is_none());
}

#[test]
fn bad_values_name_file_line_and_field() {
    let cases = [
        (
            "[meta]\nscope = { head_and_last_trunk = 5 }\n",
            2,
            "meta.scope",
        ),
        ("[meta]\n\nalpha = 0.0\n", 3, "meta.alpha"),
        (
            "[meta]\nsteps = 2\nstep_weights = [1.0]\n",
            3,
            "meta.step_weights",
        ),
        (
            "[train]\nshots_min = 9\nshots_max = 3\n",
            3,
            "train.shots_max",
        ),
        ("[eval]\nshots = []\n", 2, "eval.shots"),
        ("[model]\nhidden = []\n", 2, "model.hidden"),
        ("[meta]\nalgorithm = \"sgd\"\n", 2, "algorithm"),
        ("[oops]\n", 1, "oops"),
        (
            "[meta]\nalgorithm = \"proximal\"\nsteps = 1\nstep_weights = []\nfirst_order = true\n",
            5,
            "meta.first_order",
        ),
        (
            "[meta]\nalgorithm = \"proximal\"\nsteps = 2\nstep_weights = [1.0, 1.0]\n",
            4,
            "meta.step_weights",
        ),
        // ANIL adapts the head only: a wider scope would be ignored.
        (
            "[meta]\nalgorithm = \"anil\"\nscope = \"everything\"\n",
            3,
            "meta.scope",
        ),
    ];
    for (text, line, field) in cases {
        let e = Config::parse(text, "c.toml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (line, field), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("c.toml:{line}: field `{field}`")),
            "{e}"
        );
    }
}

/// Left out, the scope is the one the algorithm adapts: the head for ANIL, else everything.
#[test]
fn the_scope_left_out_is_the_algorithms() {
    use trainer::meta::Scope;
    for (algorithm, scope) in [
        ("anil", Scope::HeadOnly),
        ("maml", Scope::Everything),
        ("meta_sgd", Scope::Everything),
    ] {
        let text = format!("[meta]\nalgorithm = \"{algorithm}\"\n");
        let c = Config::parse(&text, "c.toml").unwrap();
        assert_eq!(c.meta.scope, scope, "{algorithm}");
        assert_eq!(c.meta.algorithm.name(), algorithm);
    }
}

#[test]
fn shipped_configs_parse_and_the_sinusoid_file_is_the_preset() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".toml") {
            continue;
        }
        // Each kind of run parses its own files: multi-task `[[head]]` files, classification
        // and regression runs; `digits_*.toml` without a `task` override the digits preset.
        if trainer::multitask::config::is_multitask(&text) {
            trainer::multitask::config::MtConfig::parse(&text, &name)
                .unwrap_or_else(|e| panic!("{e}"));
        } else {
            let standalone = text.lines().any(|l| l.starts_with("task"));
            let preset = (name.starts_with("digits_") && !standalone).then_some("digits");
            let (run, _) =
                trainer::presets::load(preset, Some(&p)).unwrap_or_else(|e| panic!("{e:#}"));
            let cls = matches!(run, trainer::presets::RunConfig::Classification(_));
            assert_eq!(
                cls,
                ["digits", "plaid", "keyword"]
                    .iter()
                    .any(|k| name.starts_with(k)),
                "{name}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 4);
    let file = Config::load(&dir.join("sinusoid.toml")).unwrap();
    assert_eq!(file, Config::preset("sinusoid").unwrap());
}

/// A classification trunk's layers are checked against the declared input before any work; the
/// error names the file, the line of the layer's table and its key.
#[test]
fn trunk_layers_are_checked_against_the_input() {
    use trainer::classify::config::ClsConfig;
    let head = "task = \"classification\"\ndata = \"x.csv\"\ntrain_classes = [0, 1, 2, 3]\n";
    let series = "[input]\nkind = \"series\"\nchannels = 1\nlength = 16\n";
    let image = "[input]\nkind = \"image\"\nwidth = 8\nheight = 8\n";
    let conv = |kind: &str, extra: &str| {
        format!("[[trunk]]\nkind = \"{kind}\"\nchannels = 4\nkernel = 3\n{extra}")
    };
    let cases = [
        // A conv2d on a series: the second [[trunk]] table is at line 12.
        (
            format!("{head}{series}{}{}", conv("conv1d", ""), conv("conv2d", "")),
            12,
            "trunk[1].kind",
            "`conv2d` needs an image",
        ),
        // A kernel larger than the map.
        (
            format!(
                "{head}{series}{}",
                conv("conv1d", "stride = 1\n").replace("3\n", "17\n")
            ),
            8,
            "trunk[0].kind",
            "does not fit",
        ),
        // A convolution after flatten.
        (
            format!(
                "{head}{image}[[trunk]]\nkind = \"flatten\"\n{}",
                conv("conv2d", "")
            ),
            10,
            "trunk[1].kind",
            "a vector of 64",
        ),
        // A conv trunk with the dense identity trunk's options.
        (
            format!("{head}identity_init = true\n{image}{}", conv("conv2d", "")),
            9,
            "trunk",
            "identity_init",
        ),
    ];
    for (text, line, field, msg) in cases {
        let e = ClsConfig::parse(&text, "c.toml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (line, field), "{text}\n{e}");
        assert!(e.to_string().contains(msg), "{e}");
    }
    let ok = format!(
        "{head}{image}{}[[trunk]]\nkind = \"global_avg_pool\"\n",
        conv("conv2d", "padding = 1\n")
    );
    let cfg = ClsConfig::parse(&ok, "c.toml").unwrap();
    assert_eq!(cfg.trunk_layers(64).unwrap().last().unwrap().outputs, 4);
}

/// Step weights are per step: a file that sets `steps` alone gets the default weights of its
/// own step count (it was refused: the defaults were the 10-step preset's), also over a preset.
#[test]
fn steps_alone_take_the_default_weights_of_their_count() {
    let c = Config::parse("[task]\nkind = \"sinusoid\"\n[meta]\nsteps = 5\n", "c.toml").unwrap();
    assert_eq!(c.meta.step_weights, [3.0, 0.1, 0.1, 0.1, 1.0]);
    let dir = std::env::temp_dir().join(format!("trainer-steps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let over = dir.join("over.toml");
    std::fs::write(&over, "[meta]\nsteps = 3\n").unwrap();
    let (run, _) = trainer::presets::load(Some("sinusoid"), Some(&over)).unwrap();
    let trainer::presets::RunConfig::Regression(c) = run else {
        panic!("not a regression configuration")
    };
    assert_eq!(c.meta.step_weights, [3.0, 0.1, 1.0]);
    // Written weights are kept, and checked against the steps.
    let c = Config::parse("[meta]\nsteps = 2\nstep_weights = [0.0, 1.0]\n", "c.toml").unwrap();
    assert_eq!(c.meta.step_weights, [0.0, 1.0]);
}

/// A configuration naming its classes is parsed only once merged (the names are resolved
/// against the data first): an unknown key is still told in its file, at its line.
#[test]
fn an_unknown_key_beside_class_names_names_its_file_and_line() {
    let dir = std::env::temp_dir().join(format!("trainer-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("d.csv"), "a,b,label\n1,2,x\n3,4,y\n5,6,z\n").unwrap();
    let cfg = dir.join("c.toml");
    let text = "task = \"classification\"\ndata = \"d.csv\"\ntrain_classes = [\"x\", \"y\"]\ntest_classes = [\"z\"]\nvalidate_on = \"held_out_rows\"\n\n[input]\nkind = \"vector\"\nwidth2 = 1\n";
    std::fs::write(&cfg, text).unwrap();
    let Err(e) = trainer::presets::load(None, Some(&cfg)) else {
        panic!("an unknown key was accepted");
    };
    let shown = format!("{e:#}");
    assert!(
        shown.contains("c.toml:9: field `input.width2`: unknown field `width2`"),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_implicit_step_takes_its_own_default_step_weights() {
    // `step_weights` left out: the last step's alone for the implicit step (its rule weighs
    // nothing else; the general default was refused as if the user had written it).
    let cfg = Config::parse(
        "[task]\nkind = \"sinusoid\"\n[meta]\nalgorithm = \"proximal\"\nsteps = 3\n",
        "p.toml",
    )
    .unwrap();
    assert_eq!(cfg.meta.step_weights, [0.0, 0.0, 1.0]);
    let cfg = Config::parse("[meta]\nalgorithm = \"maml\"\nsteps = 3\n", "p.toml").unwrap();
    assert_eq!(cfg.meta.step_weights, [3.0, 0.1, 1.0]);
}
