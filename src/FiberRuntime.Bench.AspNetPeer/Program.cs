// The ASP.NET Core peer of `fibers serve`: a minimal API with the same fixed response, on Kestrel with
// its defaults (async I/O on the thread pool).
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapGet("/", () => Results.Text("Hello, World!", "text/plain"));
app.Run();
