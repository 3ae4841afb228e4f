namespace FlexChain.Functions.Notifications;

public static class NotificationServices
{
    /// <summary>Webhooks and event streams: options (section <c>Notifications</c>), the publisher and the delivery dispatcher.</summary>
    public static IServiceCollection AddNotifications(this IServiceCollection services)
    {
        services.AddOptions<NotificationOptions>().BindConfiguration("Notifications")
            .Validate(o => o.MaxAttempts is >= 1 and <= 20, "Notifications:MaxAttempts must be between 1 and 20.")
            .Validate(o => o.InitialBackoff > TimeSpan.Zero && o.MaxBackoff >= o.InitialBackoff, "Notifications backoffs must be positive, the maximum at least the initial one.")
            .Validate(o => o.ParallelismPerSubscriber >= 1 && o.ParallelSubscribers >= 1 && o.BreakAfterFailures >= 1 && o.MaxTotalAttempts >= o.MaxAttempts
                && o.ConnectTimeout > TimeSpan.Zero && o.MaxDeliveryAge > TimeSpan.Zero, "Notifications limits must be positive; MaxTotalAttempts at least MaxAttempts.")
            .ValidateOnStart();
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<NotificationPublisher>();
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        return services;
    }
}
