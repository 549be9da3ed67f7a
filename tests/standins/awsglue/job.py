class Job:
    def __init__(self, glue_context):
        self.glue_context = glue_context

    def init(self, job_name, args):
        from awsglue import CALLS

        CALLS.append(("Job.init", job_name, dict(args)))

    def commit(self):
        from awsglue import CALLS

        CALLS.append(("Job.commit",))
