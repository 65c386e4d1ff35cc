//! The smaller model's source: the parsed file with the pruned layers'
//! widths changed in place, printed by the formatter (`dslc fmt`'s
//! canonical text, comments kept).

use nnspec_dsl::ast::{Arg, Expr, File, Item, Span, Stmt};

/// A layer's width to rewrite: the layer's source span (the IR value's),
/// its name for messages, the argument's name, and the new value.
pub struct Resize<'a> {
    pub span: Span,
    pub layer: &'a str,
    pub argument: &'static str,
    pub width: usize,
}

/// `file` (parsed from `src`) with every resize applied to model `model`,
/// formatted.
pub fn rewrite(src: &str, file: &File, model: &str, resizes: &[Resize]) -> Result<String, String> {
    let mut file = file.clone();
    let stmts = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            Item::Model(m) if m.name.name == model => Some(&mut m.stmts),
            _ => None,
        })
        .ok_or_else(|| format!("the source has no model `{model}`"))?;
    for resize in resizes {
        let mut found = false;
        for stmt in stmts.iter_mut() {
            let expr = match stmt {
                Stmt::Let(binding) | Stmt::Output(binding) => &mut binding.value,
                Stmt::Input(_) => continue,
            };
            if let Some(result) = visit(expr, resize) {
                result?;
                found = true;
                break;
            }
        }
        if !found {
            return Err(format!(
                "cannot find layer `{}` in the source to change its width",
                resize.layer
            ));
        }
    }
    Ok(nnspec_dsl::fmt::format(&file, src))
}

/// Applies `resize` if its layer is in `expr`: `None` when it is not there.
fn visit(expr: &mut Expr, resize: &Resize) -> Option<Result<(), String>> {
    match expr {
        Expr::Call(call) => {
            if call.span == resize.span {
                // The leading positional non-literals are the inputs.
                let inputs = call
                    .args
                    .iter()
                    .take_while(|a| a.name.is_none() && !is_literal(&a.value))
                    .count();
                return Some(set_width(&mut call.args[inputs..], resize));
            }
            call.args
                .iter_mut()
                .find_map(|a| visit(&mut a.value, resize))
        }
        Expr::Pipeline(pipeline) => {
            for stage in &mut pipeline.stages {
                if stage.span == resize.span {
                    let args = stage.args.get_or_insert_with(Vec::new);
                    return Some(set_width(args, resize));
                }
            }
            visit(&mut pipeline.head, resize)
        }
        Expr::Sum(sum) => sum.terms.iter_mut().find_map(|t| visit(t, resize)),
        Expr::Product(product) => product.factors.iter_mut().find_map(|t| visit(t, resize)),
        Expr::Paren(inner, _) => visit(inner, resize),
        Expr::List(items, _) => items.iter_mut().find_map(|t| visit(t, resize)),
        Expr::Name(_) | Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) => None,
    }
}

/// Sets the width argument among a layer's configuration arguments: the
/// named one, or the first positional one (both layers take it first).
fn set_width(config: &mut [Arg], resize: &Resize) -> Result<(), String> {
    let arg = match config
        .iter()
        .position(|a| a.name.as_ref().is_some_and(|n| n.name == resize.argument))
    {
        Some(named) => &mut config[named],
        None => config
            .iter_mut()
            .find(|a| a.name.is_none())
            .ok_or_else(|| {
                format!(
                    "layer `{}` has no `{}` argument",
                    resize.layer, resize.argument
                )
            })?,
    };
    let mut value = &mut arg.value;
    while let Expr::Paren(inner, _) = value {
        value = inner;
    }
    match value {
        Expr::Int(int) => {
            int.value = resize.width as i64;
            Ok(())
        }
        other => Err(format!(
            "layer `{}`: `{}` is a {}, not an integer to rewrite",
            resize.layer,
            resize.argument,
            other.describe()
        )),
    }
}

fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) | Expr::List(..) => true,
        Expr::Paren(inner, _) => is_literal(inner),
        Expr::Name(_) | Expr::Call(_) | Expr::Pipeline(_) | Expr::Sum(_) | Expr::Product(_) => {
            false
        }
    }
}
