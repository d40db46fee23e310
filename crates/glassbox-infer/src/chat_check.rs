//! A static check that refuses chat templates able to make a Jinja namespace contain itself.
//!
//! `{% set ns.attr = value %}` is the only way a template can mutate a value, and a namespace that
//! ends up inside itself (`{% set ns.a = ns %}`, or through a list or another namespace) makes
//! every later print, `tojson` or string conversion of it recurse without end: the template
//! engine overflows the stack and the process aborts — a model directory could take down a
//! server with its chat template. Real templates only store strings, numbers, booleans and
//! message fields in namespace attributes, so the check is conservative: it follows, through the
//! whole template, which variables may hold a namespace (or a container of one) and refuses any
//! namespace attribute assignment, or `namespace(...)` argument, whose value may.
//!
//! Kinds, ordered: [`Kind::Clean`] (holds no namespace), [`Kind::Ns`] (a namespace or a clean
//! value; since no assignment ever stores a namespace in an attribute, its attributes and items
//! are clean), [`Kind::Any`] (may hold a namespace anywhere). Variables only ever grow in kind, so
//! the walk repeats until nothing changes.

use std::collections::HashMap;

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Clean,
    Ns,
    Any,
}

/// Everything that is not clean becomes `Any` once it is put into or taken from a container.
fn spread(k: Kind) -> Kind {
    if k == Kind::Clean {
        Kind::Clean
    } else {
        Kind::Any
    }
}

struct Check<'a> {
    vars: HashMap<&'a str, Kind>,
    changed: bool,
    found: Option<String>,
}

/// `None` when `stmt` cannot build a self-referential namespace; otherwise what it does, with the
/// template line.
pub(crate) fn namespace_cycle(stmt: &Stmt<'_>) -> Option<String> {
    let mut c = Check {
        vars: HashMap::new(),
        changed: true,
        found: None,
    };
    // Each round either raises some variable's kind or ends; there are at most two raises per
    // variable, so this ends.
    while c.changed && c.found.is_none() {
        c.changed = false;
        c.stmt(stmt);
    }
    c.found
}

impl<'a> Check<'a> {
    fn refuse(&mut self, line: u16, what: String) {
        if self.found.is_none() {
            self.found = Some(format!(
                "{what} (template line {line}); glassbox refuses templates that could make a \
                 namespace contain itself"
            ));
        }
    }

    fn assign(&mut self, target: &Expr<'a>, kind: Kind) {
        match target {
            Expr::Var(v) => {
                let e = self.vars.entry(v.id).or_insert(Kind::Clean);
                if kind > *e {
                    *e = kind;
                    self.changed = true;
                }
            }
            Expr::Tuple(t) => {
                for item in &t.items {
                    self.assign(item, spread(kind));
                }
            }
            Expr::List(l) => {
                for item in &l.items {
                    self.assign(item, spread(kind));
                }
            }
            Expr::GetAttr(g) if kind != Kind::Clean => {
                self.refuse(
                    g.span().start_line,
                    format!(
                        "the template stores a value that may be a namespace in `.{}`",
                        g.name
                    ),
                );
            }
            // Other targets are refused by the engine itself.
            _ => {}
        }
    }

    fn body(&mut self, stmts: &[Stmt<'a>]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt<'a>) {
        match s {
            Stmt::Template(t) => self.body(&t.children),
            Stmt::EmitExpr(e) => {
                self.expr(&e.expr);
            }
            Stmt::ForLoop(f) => {
                let k = self.expr(&f.iter);
                self.assign(&f.target, spread(k));
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                self.body(&f.body);
                self.body(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.body(&i.true_body);
                self.body(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                for (target, e) in &w.assignments {
                    let k = self.expr(e);
                    self.assign(target, k);
                }
                self.body(&w.body);
            }
            Stmt::Set(set) => {
                let k = self.expr(&set.expr);
                self.assign(&set.target, k);
            }
            Stmt::SetBlock(b) => {
                // The captured body is a string.
                self.assign(&b.target, Kind::Clean);
                self.body(&b.body);
            }
            Stmt::AutoEscape(a) => self.body(&a.body),
            Stmt::FilterBlock(f) => self.body(&f.body),
            Stmt::Block(b) => self.body(&b.body),
            Stmt::Macro(m) => self.macro_body(&m.args, &m.body),
            Stmt::CallBlock(c) => {
                self.call_args(&c.call.args);
                self.macro_body(&c.macro_decl.args, &c.macro_decl.body);
            }
            Stmt::Do(d) => {
                self.call_args(&d.call.args);
            }
            Stmt::Import(i) => self.assign(&i.name, Kind::Any),
            Stmt::FromImport(f) => {
                for (name, alias) in &f.names {
                    self.assign(alias.as_ref().unwrap_or(name), Kind::Any);
                }
            }
            Stmt::EmitRaw(_)
            | Stmt::Extends(_)
            | Stmt::Include(_)
            | Stmt::Continue(_)
            | Stmt::Break(_) => {}
        }
    }

    /// Macro parameters may be given anything.
    fn macro_body(&mut self, args: &[Expr<'a>], body: &[Stmt<'a>]) {
        for a in args {
            self.assign(a, Kind::Any);
        }
        self.body(body);
    }

    fn call_args(&mut self, args: &[CallArg<'a>]) -> Kind {
        let mut k = Kind::Clean;
        for a in args {
            let e = match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => e,
            };
            k = k.max(self.expr(e));
        }
        k
    }

    fn expr(&mut self, e: &Expr<'a>) -> Kind {
        match e {
            Expr::Var(v) => {
                if v.id == "namespace" {
                    self.refuse(
                        v.span().start_line,
                        "the template uses `namespace` other than by calling it".into(),
                    );
                }
                self.vars.get(v.id).copied().unwrap_or(Kind::Clean)
            }
            // Comparisons, tests and `not`/`-` give booleans and numbers; their operands may
            // still hold calls worth checking.
            Expr::Const(_) => Kind::Clean,
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
                Kind::Clean
            }
            Expr::Test(t) => {
                self.expr(&t.expr);
                self.call_args(&t.args);
                Kind::Clean
            }
            Expr::UnaryOp(u) => {
                self.expr(&u.expr);
                Kind::Clean
            }
            Expr::Slice(s) => {
                for x in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(x);
                }
                let k = self.expr(&s.expr);
                if k == Kind::Ns { Kind::Clean } else { k }
            }
            Expr::BinOp(b) => {
                let (l, r) = (self.expr(&b.left), self.expr(&b.right));
                match b.op {
                    // `and` / `or` return one of their operands.
                    BinOpKind::ScAnd | BinOpKind::ScOr => l.max(r),
                    // List concatenation and repetition.
                    BinOpKind::Add | BinOpKind::Mul => spread(l.max(r)),
                    _ => Kind::Clean,
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                let t = self.expr(&i.true_expr);
                let f = i.false_expr.as_ref().map_or(Kind::Clean, |f| self.expr(f));
                t.max(f)
            }
            Expr::Filter(f) => {
                let input = f.expr.as_ref().map_or(Kind::Clean, |x| self.expr(x));
                spread(input.max(self.call_args(&f.args)))
            }
            Expr::GetAttr(g) => match self.expr(&g.expr) {
                Kind::Any => Kind::Any,
                _ => Kind::Clean,
            },
            Expr::GetItem(g) => {
                self.expr(&g.subscript_expr);
                match self.expr(&g.expr) {
                    Kind::Any => Kind::Any,
                    _ => Kind::Clean,
                }
            }
            Expr::Call(c) => {
                let args = self.call_args(&c.args);
                if let Expr::Var(v) = &c.expr
                    && v.id == "namespace"
                {
                    if args != Kind::Clean {
                        self.refuse(
                            v.span().start_line,
                            "the template passes a value that may be a namespace to `namespace(...)`"
                                .into(),
                        );
                    }
                    return Kind::Ns;
                }
                let callee = match self.expr(&c.expr) {
                    Kind::Any => Kind::Any,
                    _ => Kind::Clean,
                };
                spread(callee.max(args))
            }
            Expr::List(l) => {
                let mut k = Kind::Clean;
                for x in &l.items {
                    k = k.max(self.expr(x));
                }
                spread(k)
            }
            Expr::Tuple(t) => {
                let mut k = Kind::Clean;
                for x in &t.items {
                    k = k.max(self.expr(x));
                }
                spread(k)
            }
            Expr::Map(m) => {
                let mut k = Kind::Clean;
                for x in m.keys.iter().chain(&m.values) {
                    k = k.max(self.expr(x));
                }
                spread(k)
            }
        }
    }
}
