using System.Diagnostics.Metrics;
using MessagePack;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Node;
using Raft.Serialization;
using Raft.Transport;
using Raft.Transport.Tcp;

namespace Raft.Hosting;

/// <summary>Registers a Raft node in the generic host.</summary>
public static class RaftServiceCollectionExtensions
{
    /// <summary>
    /// Adds a Raft node whose groups each run a <typeparamref name="TStateMachine"/> (created through DI, one per group),
    /// configured from <paramref name="configuration"/> (e.g. <c>builder.Configuration.GetSection("Raft")</c>).
    /// Registers <see cref="RaftNodeHost{TCommand,TResult}"/> as a singleton (also as <see cref="IRaftNode"/>, for health checks and
    /// status endpoints) and a hosted service that starts it,
    /// opens <see cref="RaftHostOptions.Groups"/>, and stops it gracefully. Options are validated at start.
    /// The MessagePack options for <typeparamref name="TCommand"/> are taken from DI when registered; so are an
    /// <see cref="ITransport{TMessage}"/> of <c>RaftEnvelope&lt;TCommand&gt;[]</c> (replacing the TCP transport built
    /// from <see cref="RaftHostOptions.ListenEndpoint"/> and the peers' endpoints; <see cref="RaftHostOptions.Peers"/>
    /// still names the voters) and an <see cref="IRaftStorageProvider"/> (replacing the data directory).
    /// </summary>
    public static IServiceCollection AddRaft<TCommand, TResult, TStateMachine>(this IServiceCollection services, IConfiguration configuration)
        where TStateMachine : class, IStateMachine<TCommand, TResult>
    {
        var section = configuration is IConfigurationSection s ? s.Path : RaftHostOptions.SectionName;
        services.AddOptions<RaftHostOptions>().Bind(configuration).ValidateOnStart();
        // Only a section's keys are all settings; a root configuration also holds the application's own.
        return AddCore<TCommand, TResult, TStateMachine>(services, section, configuration as IConfigurationSection);
    }

    /// <summary>As <see cref="AddRaft{TCommand,TResult,TStateMachine}(IServiceCollection, IConfiguration)"/>, configured in code.</summary>
    public static IServiceCollection AddRaft<TCommand, TResult, TStateMachine>(this IServiceCollection services, Action<RaftHostOptions> configure)
        where TStateMachine : class, IStateMachine<TCommand, TResult>
    {
        services.AddOptions<RaftHostOptions>().Configure(configure).ValidateOnStart();
        return AddCore<TCommand, TResult, TStateMachine>(services, RaftHostOptions.SectionName, configuration: null);
    }

    /// <summary>For state machines whose results are reference types: the node is a <c>RaftNodeHost&lt;TCommand, object?&gt;</c>.</summary>
    public static IServiceCollection AddRaft<TCommand, TStateMachine>(this IServiceCollection services, IConfiguration configuration)
        where TStateMachine : class, IStateMachine<TCommand, object?> =>
        services.AddRaft<TCommand, object?, TStateMachine>(configuration);

    /// <summary>For state machines whose results are reference types, configured in code.</summary>
    public static IServiceCollection AddRaft<TCommand, TStateMachine>(this IServiceCollection services, Action<RaftHostOptions> configure)
        where TStateMachine : class, IStateMachine<TCommand, object?> =>
        services.AddRaft<TCommand, object?, TStateMachine>(configure);

    private static IServiceCollection AddCore<TCommand, TResult, TStateMachine>(IServiceCollection services, string section, IConfiguration? configuration)
        where TStateMachine : class, IStateMachine<TCommand, TResult>
    {
        services.AddSingleton<IValidateOptions<RaftHostOptions>>(new RaftHostOptionsValidator(section, configuration));
        services.AddMetrics();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<RaftHostOptions>>().Value;
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            var serializer = sp.GetService<MessagePackSerializerOptions>() ?? MessagePackSerializerOptions.Standard;
            var transport = sp.GetService<ITransport<RaftEnvelope<TCommand>[]>>()
                ?? new TcpTransport<RaftEnvelope<TCommand>[]>(o.ToTransportOptions(),
                    new RaftBatchCodec<TCommand>(new RaftMessageCodec<TCommand>(serializer)),
                    loggers.CreateLogger<TcpTransport<RaftEnvelope<TCommand>[]>>());
            var storage = sp.GetService<IRaftStorageProvider>() ?? o.CreateStorage();
            return new RaftNodeHost<TCommand, TResult>(o.ToNodeOptions(), transport, storage,
                _ => ActivatorUtilities.CreateInstance<TStateMachine>(sp), serializer, loggers,
                sp.GetService<TimeProvider>(), sp.GetService<IMeterFactory>());
        });
        services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<RaftNodeHost<TCommand, TResult>>());
        services.AddHostedService(sp => new RaftHostedService<TCommand, TResult>(
            sp.GetRequiredService<RaftNodeHost<TCommand, TResult>>(), sp.GetRequiredService<IOptions<RaftHostOptions>>().Value));
        return services;
    }
}

/// <summary>Opens the configured groups and starts the node (in that order: the transport then delivers no message
/// for a group that is not open yet); stops it gracefully with the host.</summary>
internal sealed class RaftHostedService<TCommand, TResult>(RaftNodeHost<TCommand, TResult> node, RaftHostOptions options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var group in options.Groups.Distinct())
            await node.CreateGroupAsync(group, options.Voters(), cancellationToken).ConfigureAwait(false);
        await node.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => node.StopAsync(cancellationToken);
}
