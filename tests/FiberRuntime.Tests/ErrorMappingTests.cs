using System;
using System.Collections.Generic;
using System.Threading.Channels;
using NUnit.Framework;

namespace FiberRuntime.Tests;

public class ErrorMappingTests
{
    private static IEnumerable<TestCaseData> Codes()
    {
        yield return new TestCaseData(Interop.FBR_EINVAL, typeof(ArgumentException));
        yield return new TestCaseData(Interop.FBR_ENOMEM, typeof(OutOfMemoryException));
        yield return new TestCaseData(Interop.FBR_EMAPLIMIT, typeof(InsufficientMemoryException));
        yield return new TestCaseData(Interop.FBR_ENOTFIBER, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_EFINISHED, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_ERUNNING, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_ESHADOWSTACK, typeof(PlatformNotSupportedException));
        yield return new TestCaseData(Interop.FBR_EBUSY, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_ENOTSUP, typeof(PlatformNotSupportedException));
        yield return new TestCaseData(Interop.FBR_ESYSTEM, typeof(FiberRuntimeException));
        yield return new TestCaseData(Interop.FBR_ECLOSED, typeof(ChannelClosedException));
        yield return new TestCaseData(Interop.FBR_ETIMEDOUT, typeof(TimeoutException));
        yield return new TestCaseData(Interop.FBR_EAGAIN, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_EDEADLK, typeof(InvalidOperationException));
        yield return new TestCaseData(Interop.FBR_ESHUTDOWN, typeof(ObjectDisposedException));
        yield return new TestCaseData(Interop.FBR_ECANCELED, typeof(OperationCanceledException));
    }

    [TestCaseSource(nameof(Codes))]
    public void Every_native_code_maps_to_its_exception(int code, Type expected)
    {
        Exception e = FiberErrors.Create(code);
        Assert.That(e, Is.TypeOf(expected));
        Assert.That(e.Data[FiberErrors.ErrorCodeKey], Is.EqualTo(code));
        Assert.That(e.Message, Does.Contain(FiberErrors.Name(code)));
        Assert.That(FiberErrors.Describe(code), Is.Not.EqualTo("unknown error"));
    }

    [Test]
    public void The_exception_carries_the_native_message_of_the_failed_call()
    {
        // fbr_join of a non-fiber fails with a particular message on this thread.
        int rc = Interop.fbr_detach(0);
        Assert.That(rc, Is.EqualTo(Interop.FBR_EINVAL));
        Exception e = FiberErrors.Create(rc);
        Assert.That(e.Message, Does.Contain("fbr_detach"));
    }

    [Test]
    public void A_message_left_by_another_code_is_not_borrowed()
    {
        _ = Interop.fbr_detach(0); // leaves an FBR_EINVAL message behind
        Exception e = FiberErrors.Create(Interop.FBR_ECLOSED);
        Assert.That(e.Message, Does.Not.Contain("fbr_detach"));
        Assert.That(e.Message, Does.Contain("closed"));
    }

    [Test]
    public void Configuring_after_start_is_an_invalid_operation()
    {
        Runtime.Initialize();
        var e = Assert.Throws<InvalidOperationException>(() => Runtime.Configure(new RuntimeOptions { StackMode = StackMode.Mprotect }))!;
        Assert.That(e.Message, Does.Contain("FBR_EBUSY"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Runtime.Configure(new RuntimeOptions { StackGuardSize = -1 }));
    }

    [Test]
    public void The_runtime_reports_its_version_and_stack_mode()
    {
        Assert.That(Runtime.Version, Is.EqualTo("0.1.0"));
        Runtime.Initialize();
        Assert.That(Runtime.ActiveStackMode, Is.Not.EqualTo(StackMode.Auto));
        Assert.That(Runtime.GetStats().StackMode, Is.EqualTo(Runtime.ActiveStackMode));
    }

    [Test]
    public void NullReferenceException_still_works_after_the_fault_handler_is_installed()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        int[]? nothing = Environment.TickCount == int.MinValue ? [] : null;
        Assert.Throws<NullReferenceException>(() => _ = nothing![0]);
    }
}
