namespace TokenFactory.Chat;

// The syntax tree. Nodes carry the source line so runtime errors can point at the template.

internal abstract record Expr(int Line);

internal sealed record LiteralExpr(JinjaValue Value, int Line) : Expr(Line);
internal sealed record NameExpr(string Name, int Line) : Expr(Line);
internal sealed record ListExpr(List<Expr> Items, int Line) : Expr(Line);
internal sealed record TupleExpr(List<Expr> Items, int Line) : Expr(Line);
internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
internal sealed record GetAttrExpr(Expr Target, string Attribute, int Line) : Expr(Line);
internal sealed record GetItemExpr(Expr Target, Expr Index, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record CallExpr(Expr Callee, Arguments Args, int Line) : Expr(Line);
internal sealed record FilterExpr(Expr? Input, string Name, Arguments Args, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Input, string Name, Arguments Args, bool Negated, int Line) : Expr(Line);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record CompareExpr(Expr First, List<(string Op, Expr Right)> Rest, int Line) : Expr(Line);
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);

internal sealed record Arguments(List<Expr> Positional, List<(string Name, Expr Value)> Named)
{
    public static Arguments Empty { get; } = new([], []);
}

internal abstract record Stmt(int Line);

internal sealed record TextStmt(string Text, int Line) : Stmt(Line);
internal sealed record PrintStmt(Expr Value, int Line) : Stmt(Line);
internal sealed record IfStmt(List<(Expr Test, List<Stmt> Body)> Branches, List<Stmt>? Else, int Line) : Stmt(Line);
internal sealed record ForStmt(Target Target, Expr Iterable, Expr? Filter, List<Stmt> Body, List<Stmt>? Else, bool Recursive, int Line) : Stmt(Line);
internal sealed record SetStmt(Target Target, Expr Value, int Line) : Stmt(Line);
internal sealed record SetBlockStmt(Target Target, List<FilterExpr> Filters, List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record MacroStmt(string Name, List<(string Name, Expr? Default)> Params, List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record CallBlockStmt(CallExpr Call, List<(string Name, Expr? Default)> CallerParams, List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record FilterBlockStmt(List<FilterExpr> Filters, List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record WithStmt(List<(Target Target, Expr Value)> Assignments, List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record ScopeStmt(List<Stmt> Body, int Line) : Stmt(Line);
internal sealed record BreakStmt(int Line) : Stmt(Line);
internal sealed record ContinueStmt(int Line) : Stmt(Line);

internal abstract record Target(int Line);
internal sealed record NameTarget(string Name, int Line) : Target(Line);
internal sealed record AttrTarget(string Object, string Attribute, int Line) : Target(Line);
internal sealed record TupleTarget(List<Target> Items, int Line) : Target(Line);
