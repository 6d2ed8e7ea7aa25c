using System;
using System.Buffers.Text;
using System.Text;

namespace FiberRuntime.Cli.Serve;

/// <summary>
/// The HTTP/1.1 the C# handlers speak, the same as native/workloads/serve.c: every complete request in the
/// buffer (pipelined ones too, up to <see cref="MaxBatch"/>) gets the fixed response; Content-Length bodies
/// are skipped; "Connection: close" and HTTP/1.0 without keep-alive end the connection after the answer.
/// </summary>
internal static class HttpRequests
{
    public const int MaxBatch = 32;

    public static readonly byte[] Response = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!");

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    /// <summary>
    /// Answers the complete requests at the start of the connection's buffer into its output buffer and
    /// keeps the incomplete rest. Returns the number answered, or -1 for a request this server refuses
    /// (a head or body larger than the buffer).
    /// </summary>
    public static int Answer(ManagedServer.Connection c)
    {
        int used = 0, answered = 0;
        c.OutLength = 0;
        c.CloseAfter = false;
        while (answered < MaxBatch && !c.CloseAfter)
        {
            ReadOnlySpan<byte> rest = c.Buffer.AsSpan(used, c.Have - used);
            int end = rest.IndexOf(HeadEnd);
            if (end < 0)
                break;
            ReadOnlySpan<byte> head = rest[..(end + HeadEnd.Length)];
            long body = ContentLength(head);
            if (body < 0 || body > c.Buffer.Length - head.Length)
                return -1;
            if (head.Length + body > rest.Length)
                break; // the body is still on its way
            ReadOnlySpan<byte> connection = Header(head, "connection"u8);
            bool http10 = head.IndexOf("HTTP/1.0"u8) >= 0;
            c.CloseAfter = StartsWithIgnoreCase(connection, "close"u8) || (http10 && !StartsWithIgnoreCase(connection, "keep-alive"u8));
            Response.CopyTo(c.Out, c.OutLength);
            c.OutLength += Response.Length;
            answered++;
            used += head.Length + (int)body;
        }
        c.Buffer.AsSpan(used, c.Have - used).CopyTo(c.Buffer);
        c.Have -= used;
        if (answered == 0 && c.Have == c.Buffer.Length)
            return -1;
        return answered;
    }

    private static long ContentLength(ReadOnlySpan<byte> head)
    {
        ReadOnlySpan<byte> value = Header(head, "content-length"u8);
        if (value.IsEmpty)
            return 0;
        return Utf8Parser.TryParse(value, out long length, out _) && length >= 0 ? length : -1;
    }

    /// <summary>The value of a header line (after the colon and spaces), or empty.</summary>
    private static ReadOnlySpan<byte> Header(ReadOnlySpan<byte> head, ReadOnlySpan<byte> lowerName)
    {
        int line = head.IndexOf((byte)'\n');
        while (line >= 0 && line + 1 < head.Length)
        {
            ReadOnlySpan<byte> rest = head[(line + 1)..];
            int next = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> text = next < 0 ? rest : rest[..next];
            if (text.Length > lowerName.Length && text[lowerName.Length] == (byte)':' && StartsWithIgnoreCase(text, lowerName))
                return text[(lowerName.Length + 1)..].TrimStart((byte)' ').TrimEnd("\r"u8);
            if (next < 0)
                break;
            line += 1 + next;
        }
        return default;
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> lowerPrefix)
    {
        if (text.Length < lowerPrefix.Length)
            return false;
        for (int i = 0; i < lowerPrefix.Length; i++)
            if ((text[i] | 0x20) != lowerPrefix[i] && text[i] != lowerPrefix[i])
                return false;
        return true;
    }
}
